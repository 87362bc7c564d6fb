"""State to map traces: each module draws one layer; ``map_figure`` assembles them."""
