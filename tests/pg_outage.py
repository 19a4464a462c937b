"""An outage of one database on the session's throwaway PostgreSQL server, for the tests."""

import psycopg


def database_accepts(server, name: str, accepts: bool) -> None:
    """Let database ``name`` take connections again, or refuse them and end those open.

    Refusing ends the connections open now, as a server's restart does, and the database
    refuses new ones until it accepts them again: an outage of that database only.
    """
    with psycopg.connect(server.get_uri(), autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {str(accepts).lower()}')
        if not accepts:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (name,),
            )
