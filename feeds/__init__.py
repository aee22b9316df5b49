"""feeds: newsroom articles in, RSS 2.0, Atom 1.0 and JSON Feed 1.1 out."""

__version__ = "0.5.0"
