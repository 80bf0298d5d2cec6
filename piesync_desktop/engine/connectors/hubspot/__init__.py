"""HubSpot CRM contacts as a connector: settings, the HTTP client with its rate limiter, the
property schema, and the connector itself (see :mod:`.connector`)."""
