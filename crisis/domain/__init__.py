"""Domain model and rules of the crisis centre. Plain data and functions: no I/O."""
