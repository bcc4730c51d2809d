"""Server-rendered pages for sellers and buyers: the same services as the API, for people with a browser."""
