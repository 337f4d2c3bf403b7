"""The web pages under ``/ui``: server-rendered Jinja2 templates over the same services as the API."""
