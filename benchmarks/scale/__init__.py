"""Scale benchmark: decisions on one collection of 10^5 and 10^6 images, pgvector beside hnswlib."""
