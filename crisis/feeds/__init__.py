"""Intake: one module per format. Each parses and validates, and returns commands.

schemas.py   JSON commands (the API's incident and position bodies) and their validation
"""
