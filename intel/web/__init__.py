"""The intel web layer: feed registry and review pages, the portal, the JSON API, the sample feeds."""
