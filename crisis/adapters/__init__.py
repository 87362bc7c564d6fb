"""Adapters to the outside world. All Redis code and every Redis key name live here."""
