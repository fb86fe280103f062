"""The detail web layer: blueprints for pages, the JSON API, the phone, the board, the apps' ingest
endpoints and the socket namespaces. Thin handlers: validate, call the domain, commit, publish."""
