"""Google Contacts: the People API connector and its OAuth 2.0 sign-in for installed apps."""
