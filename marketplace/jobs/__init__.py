"""Jobs: the database record of every piece of background work (photo jobs, training runs, re-index runs) and the
model versions that training produces. The broker only carries task ids; these rows are the truth."""
