"""Files discovery reads and writes itself: collector bundles, and writing any file atomically."""
