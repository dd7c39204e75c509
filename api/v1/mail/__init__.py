#!/usr/bin/env python3
"""Mail of the Session API: transports, the outbox, recovery and notices.

Mail is off unless `MAIL_URL` is set (account-security §7.1). Then
`create_app` keeps a `Mailer` (`api.v1.mail.outbox`) at
`app.extensions[MAIL_EXTENSION]`, registers the recovery routes
(`api.v1.views.recovery`, §7.2) and the recovery page, and the security
notices of §7.3 (`api.v1.mail.notices.notify`) are sent.
"""
