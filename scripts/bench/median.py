#!/usr/bin/env python3
"""median.py FILE [INDEX]: the median of a hyperfine --export-json result, in ms."""
import json
import sys

results = json.load(open(sys.argv[1]))["results"]
print(f"{results[int(sys.argv[2]) if len(sys.argv) > 2 else 0]['median'] * 1000:.3f}")
