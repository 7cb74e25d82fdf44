"""The build report: the page (tables, figures, HTML) and the ray-cast renderer of its gallery."""
