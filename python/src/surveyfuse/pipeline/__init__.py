"""A task spec from file to output: validate the spec, read, harmonise / rake, fit, then per chunk of
recipient rows sample, check and write (``run_spec``); Dask partitions and the memory guard."""
