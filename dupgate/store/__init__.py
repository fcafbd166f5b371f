"""What dupgate keeps: the database (engine, tables, migrations, transactions, locks, pages) and blobs."""
