"""Node registry, pools, concurrent fan-out and keyset merge across catalog databases."""
