"""CardDAV address books (RFC 6352) as a connector: discovery, WebDAV, groups, the connector."""
