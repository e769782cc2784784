"""The stand-alone offline collector: `python3 estatemap-collector.pyz --out FILE` (see scripts/build_collector.py)."""
