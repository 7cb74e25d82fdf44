"""Where objects come from: the manifest of local folders and Objaverse tables, identifiers, and downloads that survive failures."""
