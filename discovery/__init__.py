"""Record model, store, merge, graph and analysis: the core that scanners feed and exports and the GUI read."""

__version__ = "0.1.0"
