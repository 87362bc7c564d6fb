"""Real places for the simulator: UN duty stations, Lebanon's field offices, the
evacuation roads, invented names, and geodesic helpers. Pure data and arithmetic.

Coordinates come from ``airportsdata`` (a duty station is named by the IATA code of the
airport that serves it); where the airport lies far from the city (Amman, Bangkok,
Dakar ...) the table gives the city centre, so people are not scattered over runways.
``sea`` is the rough bearing of open water from a coastal city centre: scattering avoids
that half-plane so few travellers end up in the sea. All distances are geodesic (WGS84).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import airportsdata
import numpy as np
import shapely.affinity
import shapely.geometry
from pyproj import Geod

from crisis.domain.travellers import CATEGORIES as TRAVELLER_CATEGORIES

GEOD = Geod(ellps="WGS84")

# CODE  weight  sea-bearing  [City name][|lat,lon]   (weight: relative headcount)
_TABLE = """
JFK 200 - New York|40.7489,-73.9680
IAD 15 - |38.905,-77.040
YUL 15 - Montreal|45.505,-73.570
GVA 200 - |46.222,6.138
VIE 90 - |48.234,16.415
FCO 150 - |41.895,12.490
CPH 70 90 |55.690,12.540
CGN 30 - Bonn|50.720,7.120
BRU 25 - |50.845,4.360
CDG 30 - |48.855,2.350
BEG 10 - Belgrade|44.815,20.460
PRN 15 - Pristina|42.662,21.165
SJJ 10 - |43.856,18.400
TIA 8 - |41.328,19.818
SKP 6 - |41.998,21.430
KBP 60 - |50.450,30.510
ODS 15 90 Odesa|46.470,30.700
RMO 10 - Chisinau|47.010,28.860
IST 30 - Istanbul|41.040,28.990
ESB 10 - |39.925,32.860
GZT 25 - |37.065,37.380
TBS 15 - |41.715,44.790
EVN 10 - |40.180,44.515
AMM 120 - |31.955,35.910
DAM 60 - |33.510,36.290
ALP 15 - |36.205,37.150
BGW 70 - |33.310,44.375
EBL 60 - Erbil|36.190,44.010
BSR 12 - Basra|30.515,47.800
SAH 55 - |15.365,44.200
ADE 25 180 |12.800,45.020
RUH 10 - |24.710,46.680
KWI 10 45 |29.350,47.960
DOH 10 90 |25.285,51.510
DXB 15 315 |25.200,55.290
MCT 6 0 |23.590,58.400
IKA 25 - Tehran|35.700,51.390
CAI 60 - |30.045,31.240
MJI 30 0 |32.870,13.190
BEN 15 270 |32.100,20.090
TUN 25 90 |36.810,10.170
ALG 10 0 |36.740,3.070
RBA 10 300 |34.000,-6.830
CMN 10 315 |33.570,-7.580
KRT 55 - |15.580,32.540
PZU 30 90 |19.600,37.200
ELF 12 - |13.630,25.350
JUB 110 - |4.850,31.590
MAK 20 - |9.535,31.655
WUU 12 - |7.700,28.000
ADD 130 - |9.010,38.760
ASM 10 - |15.330,38.930
JIB 10 0 |11.580,43.150
MGQ 60 135 |2.050,45.320
HGA 20 - |9.560,44.065
GLK 12 - Galkayo|6.770,47.430
BSA 10 0 |11.270,49.170
NBO 220 - |-1.260,36.800
EBB 50 - Kampala|0.335,32.585
KGL 30 - |-1.945,30.080
BJM 25 250 |-3.370,29.370
GOM 90 180 |-1.645,29.225
BKY 30 270 Bukavu|-2.505,28.860
FIH 110 - |-4.330,15.310
FBM 15 - |-11.665,27.480
BGF 60 - |4.375,18.560
NDJ 50 - |12.115,15.050
AEH 15 - Abeche|13.830,20.830
NIM 40 - |13.515,2.110
BKO 70 - Bamako|12.640,-7.990
GAQ 20 - Gao|16.270,-0.045
TOM 10 - |16.775,-3.005
OUA 40 - |12.370,-1.525
NKC 15 270 |18.090,-15.960
DKR 70 270 |14.715,-17.440
BJL 10 0 |13.440,-16.650
OXB 10 - |11.865,-15.600
CKY 20 225 |9.600,-13.620
FNA 15 0 Freetown|8.470,-13.230
ROB 20 225 Monrovia|6.310,-10.780
ABJ 40 180 |5.350,-4.010
ACC 30 180 |5.600,-0.190
LFW 10 180 |6.150,1.220
COO 10 180 |6.380,2.410
LOS 20 180 |6.520,3.380
ABV 40 - |9.060,7.490
MIU 40 - |11.840,13.150
NSI 25 - Yaounde|3.865,11.515
DLA 15 250 |4.050,9.740
LBV 8 270 |0.415,9.470
BZV 10 - |-4.260,15.260
LAD 10 300 |-8.840,13.260
DAR 30 80 |-6.800,39.250
LUN 20 - |-15.415,28.285
LLW 15 - |-13.965,33.785
HRE 25 - |-17.825,31.050
MPM 25 90 |-25.950,32.570
POL 15 80 Pemba|-12.975,40.505
JNB 25 - |-26.200,28.050
PRY 20 - |-25.745,28.190
WDH 10 - |-22.570,17.080
GBE 10 - |-24.655,25.910
MSU 8 - |-29.315,27.485
TNR 20 - |-18.900,47.525
KBL 140 - |34.530,69.170
HEA 15 - Herat|34.350,62.200
KDH 12 - Kandahar|31.615,65.710
MZR 12 - Mazar-i-Sharif|36.710,67.110
ISB 60 - |33.700,73.060
PEW 15 - |34.010,71.560
KHI 20 200 |24.880,67.040
LHE 10 - |31.550,74.345
DEL 50 - |28.610,77.210
KTM 60 - |27.705,85.325
DAC 70 - |23.780,90.400
CXB 60 270 |21.250,92.120
RGN 40 - |16.840,96.160
MDL 10 - |21.960,96.090
CMB 25 270 |6.910,79.880
BKK 140 - |13.755,100.520
VTE 15 - |17.970,102.610
KTI 15 - Phnom Penh|11.560,104.920
HAN 25 - |21.030,105.840
SGN 10 - |10.790,106.690
KUL 25 - |3.150,101.700
CGK 40 0 |-6.220,106.840
MNL 40 270 |14.590,121.040
DIL 10 0 |-8.565,125.570
POM 15 225 |-9.450,147.200
SUV 20 180 Suva|-18.120,178.450
HND 15 180 |35.690,139.730
ICN 15 - |37.565,126.980
PEK 25 - |39.920,116.400
UBN 10 - Ulaanbaatar|47.915,106.920
TAS 15 - |41.310,69.280
ALA 15 - |43.240,76.910
DYU 10 - |38.565,68.780
ASB 10 - |37.950,58.380
PAP 80 270 |18.535,-72.320
SDQ 20 180 |18.485,-69.930
KIN 10 180 |18.010,-76.790
HAV 10 0 |23.120,-82.380
POS 8 270 |10.665,-61.500
BGI 10 270 |13.100,-59.600
GUA 20 - |14.625,-90.515
SAL 15 - San Salvador|13.695,-89.215
TGU 15 - |14.090,-87.205
MGA 10 - |12.135,-86.250
SJO 15 - |9.930,-84.080
PTY 60 180 Panama City|9.000,-79.515
MEX 30 - |19.430,-99.135
BOG 50 - |4.650,-74.080
CUC 20 - |7.895,-72.505
CCS 30 - |10.490,-66.880
UIO 15 - |-0.180,-78.470
LIM 25 250 |-12.060,-77.020
LPB 15 - La Paz|-16.500,-68.135
ASU 6 - |-25.290,-57.600
SCL 40 - |-33.440,-70.650
EZE 15 90 Buenos Aires|-34.610,-58.420
MVD 6 180 |-34.880,-56.170
BSB 25 - |-15.795,-47.880
GRU 10 - Sao Paulo|-23.550,-46.630
"""

# Stations where terrorism, IEDs and armed attacks are plausible background incidents.
HIGH_RISK = frozenset(
    "KBL HEA KDH MZR PEW MGQ GLK BSA BKO GAQ TOM NIM OUA MIU BGW EBL SAH ADE MJI BEN "
    "JUB MAK WUU BGF GOM BKY KRT ELF PAP AEH DAM ALP".split()
)


@dataclass(frozen=True)
class Station:
    code: str
    city: str
    country: str  # ISO 3166 alpha-2, as airportsdata gives it
    lat: float
    lon: float
    weight: float
    sea: float | None = None  # bearing of open water from the centre, if coastal


def _parse(table: str, airports: dict[str, Any]) -> list[Station]:
    out = []
    for line in table.strip().splitlines():
        code, weight, sea, rest = (line.split(maxsplit=3) + [""])[:4]
        name, _, coords = rest.partition("|")
        airport = airports[code]
        lat, lon = (float(v) for v in coords.split(",")) if coords else (airport["lat"], airport["lon"])
        out.append(Station(code, name.strip() or airport["city"], airport["country"], lat, lon,
                           float(weight), None if sea == "-" else float(sea)))
    return out


STATIONS: list[Station] = _parse(_TABLE, airportsdata.load("IATA"))

# Lebanon: the capital and field offices (UNIFIL at Naqoura), with their share of the
# Lebanon headcount; all are served by Beirut airport except Tripoli (Qlayaat, KYE).
LEBANON_OFFICES: list[tuple[Station, float]] = [
    (Station("BEY", "Beirut", "LB", 33.872, 35.525, 0.0, 270.0), 0.66),
    (Station("BEY", "Tyre", "LB", 33.272, 35.215, 0.0, 270.0), 0.08),
    (Station("BEY", "Naqoura", "LB", 33.113, 35.150, 0.0, 260.0), 0.12),
    (Station("BEY", "Nabatieh", "LB", 33.378, 35.484, 0.0, None), 0.06),
    (Station("KYE", "Tripoli", "LB", 34.425, 35.860, 0.0, 290.0), 0.08),
]
LEBANON_SHARE = 0.08  # ~400 of 5000: the conflict scenario needs people in harm's way

# Evacuation roads, (lat, lon) waypoints. Staff assemble at UN House (Riad el Solh) and
# drive the Beirut-Damascus highway via Masnaa, or north along the coast through
# Tripoli and Arida, then to the safe haven in Amman via the Jaber crossing.
ASSEMBLY = (33.8963, 35.5018)
SIDON = (33.5600, 35.3750)
AMMAN = (31.9550, 35.9100)
_DAMASCUS_TO_AMMAN = [(33.5100, 36.2900), (33.1800, 36.2300), (32.5450, 36.2050), (32.0700, 36.0900), AMMAN]
ROUTE_DAMASCUS = [(33.8120, 35.6000), (33.8200, 35.8500), (33.6900, 36.0700), (33.6300, 36.1300), *_DAMASCUS_TO_AMMAN]
ROUTE_NORTH_TAIL = [(34.4300, 35.8400), (34.6300, 35.9700), (34.6700, 36.2500), (34.7300, 36.7100), (34.0200, 36.7300), *_DAMASCUS_TO_AMMAN]
ROUTE_NORTH = [(33.9800, 35.6200), (34.1200, 35.6500), (34.2550, 35.6600), *ROUTE_NORTH_TAIL]

AGENCIES = ("UNDP", "UNICEF", "WFP", "UNHCR", "WHO", "OCHA", "DPKO", "UNFPA", "DSS")
AGENCY_WEIGHTS = np.array([0.20, 0.17, 0.15, 0.14, 0.09, 0.07, 0.08, 0.05, 0.05])
# The travel-tracking export's words (crisis.domain.travellers.CATEGORIES), with their shares.
CATEGORIES = ("national_staff", "international_staff", "dependant", "consultant", "visitor")
assert set(CATEGORIES) == set(TRAVELLER_CATEGORIES)
CATEGORY_WEIGHTS = np.array([0.50, 0.25, 0.10, 0.08, 0.07])

# Name pools by region: national staff take names of their country's pool; others mix.
NAMES: dict[str, tuple[list[str], list[str]]] = {
    "arab": ("Amina Omar Fatima Youssef Layla Karim Nadia Samir Rania Hassan Maya Ziad Rima Tarek Hala Walid".split(),
             "Haddad Khoury Mansour Nasser Saleh Aoun Karam Hamdan Jaber Sayegh Fares Daher Awad Najjar".split()),
    "africa": ("Chinedu Ngozi Kwame Abena Tendai Wanjiru Otieno Fatou Moussa Aminata Kofi Zainab Tesfaye Selam Ibrahima Achieng".split(),
               "Okafor Mensah Diallo Traore Ndlovu Kamau Mwangi Banda Haile Abdi Mohamed Sow Kone Nkurunziza Mutombo".split()),
    "asia": ("Priya Arjun Ananya Rahul Sunita Bilal Farah Mei Wei Hiroshi Yuki Minh Siti Ji-woo Aung Tenzin".split(),
             "Sharma Patel Khan Rahman Chowdhury Perera Wang Li Tanaka Kim Tran Santoso Karimi Thapa Win".split()),
    "latin": ("Maria Jose Lucia Carlos Camila Diego Valentina Andres Sofia Jean-Baptiste Rosa Luis".split(),
              "Garcia Rodriguez Silva Fernandez Lopez Morales Pierre Castillo Rojas Mendoza Vargas Joseph".split()),
    "europe": ("Anna Lars Sophie Marco Elena Pierre Ingrid Tomasz Olga Dmitri John Sarah Michael Grace Ines Katarina".split(),
               "Muller Rossi Dubois Hansen Kowalski Ivanova Petrov Smith O'Brien Johansson Novak Jensen Moreau Bianchi".split()),
}
_REGION_OF = {
    **dict.fromkeys("LB SY JO IQ YE LY EG TN DZ MA SA KW QA AE OM SD MR DJ".split(), "arab"),
    **dict.fromkeys("AF PK IN NP BD MM LK TH LA KH VN MY ID PH TL PG FJ JP KR CN MN UZ KZ TJ TM IR".split(), "asia"),
    **dict.fromkeys("HT DO JM CU TT BB GT SV HN NI CR PA MX CO VE EC PE BO PY CL AR UY BR".split(), "latin"),
    **dict.fromkeys("US CA CH AT IT DK DE BE FR RS XK BA AL MK UA MD TR GE AM".split(), "europe"),
}


def name_pool(country: str) -> str:
    return _REGION_OF.get(country, "africa")


def scatter(rng: np.random.Generator, lat: np.ndarray, lon: np.ndarray, sea: np.ndarray,
            sigma_km: float | np.ndarray = 3.0, max_km: float = 9.0) -> tuple[np.ndarray, np.ndarray]:
    """Random points a few km around each centre (geodesic), away from the sea bearing.

    ``sea`` holds NaN for inland centres; for coastal ones the bearing is drawn from the
    landward half (sea + 90 .. sea + 270).
    """
    n = len(lat)
    dist = np.minimum(np.abs(rng.normal(0.0, sigma_km, n)), max_km) * 1000.0
    az = rng.uniform(0.0, 360.0, n)
    coastal = ~np.isnan(sea)
    az[coastal] = sea[coastal] + rng.uniform(100.0, 260.0, int(coastal.sum()))
    lon2, lat2, _ = GEOD.fwd(lon, lat, az, dist)
    return np.asarray(lat2, dtype=float), np.asarray(lon2, dtype=float)


def offset(lat: float, lon: float, bearing: float, km: float) -> tuple[float, float]:
    """The point ``km`` from (lat, lon) along a geodesic at ``bearing`` degrees."""
    lon2, lat2, _ = GEOD.fwd(lon, lat, bearing, km * 1000.0)
    return float(lat2), float(lon2)


def ellipse(lat: float, lon: float, a_km: float, b_km: float, orientation: float, points: int = 48) -> dict[str, Any]:
    """A GeoJSON ellipse-like area around a point; split at the antimeridian if it crosses.

    ``a_km`` lies along ``orientation`` (degrees from north). The ring is built from
    geodesic offsets, unwrapped to continuous longitudes, then cut into -180..180 parts.
    """
    theta = np.linspace(0.0, 360.0, points, endpoint=False)
    phi = np.radians(theta - orientation)
    r = a_km * b_km / np.sqrt((b_km * np.cos(phi)) ** 2 + (a_km * np.sin(phi)) ** 2)
    lons, lats, _ = GEOD.fwd(np.full(points, lon), np.full(points, lat), theta, r * 1000.0)
    lons = np.degrees(np.unwrap(np.radians(np.asarray(lons))))
    ring = shapely.geometry.Polygon(zip(lons.round(5), np.asarray(lats).round(5)))
    parts: list[Any] = []
    for shift in (-360.0, 0.0, 360.0):
        moved = shapely.affinity.translate(ring, xoff=shift)
        part = moved.intersection(shapely.geometry.box(-180.0, -90.0, 180.0, 90.0))
        if not part.is_empty and part.area > 0:
            parts.extend(getattr(part, "geoms", [part]))
    geometry = parts[0] if len(parts) == 1 else shapely.geometry.MultiPolygon(parts)
    return dict(shapely.geometry.mapping(geometry))
