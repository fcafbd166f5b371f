"""Alembic environment: migrations run against the URL that dupgate.db puts in the config."""

from alembic import context
from sqlalchemy import create_engine

from dupgate.store.models import Base

url = context.config.get_main_option("sqlalchemy.url")
assert url, "dupgate.db.alembic_config sets sqlalchemy.url"

if context.is_offline_mode():
    context.configure(url=url, target_metadata=Base.metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    engine = create_engine(url)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()
