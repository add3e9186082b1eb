"""The City Partner portal: server-rendered pages (Jinja2 + htmx) for people, beside the API."""
