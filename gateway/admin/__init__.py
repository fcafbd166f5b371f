"""The admin console at /admin: review, policy and scans in a browser, over the domain the JSON
API calls. Server-rendered Jinja2 templates (`templates/`), a little plain JavaScript, no build."""
