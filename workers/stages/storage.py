"""A job's generated images in storage and its GeneratedImage row: written once per run, replaced (never added to)
on a re-run, in the transaction that hands the job on."""
from __future__ import annotations

from collections.abc import Collection

import numpy as np
from django.db import transaction

from marketplace.jobs.models import GeneratedImage, ImageJob

from .photos import png


def generated_row(job: ImageJob, result, vector: np.ndarray, embedder_version: str) -> GeneratedImage:
    """The job's GeneratedImage with its three images written to storage, not yet saved (`replace_generated`)."""
    gen = GeneratedImage(job=job, embedding=np.asarray(vector, "<f4").tobytes(), embedder_version=embedder_version,
                         model_label=result.model_label, trained=bool(result.trained))
    # Only the extension of these names is kept: the field's upload_to (marketplace.media_names.RandomName) gives
    # each file a random name, so generated images cannot be enumerated by job id.
    gen.image.save("stock.png", png(result.stock), save=False)
    gen.stage1_image.save("stage1.png", png(result.stage1), save=False)
    gen.preprocessed_image.save("input.png", png(result.preprocessed), save=False)
    return gen

def replace_generated(rows: list[GeneratedImage], fresh: Collection[int] = ()) -> None:
    """Save these rows, one GeneratedImage per job: a re-run replaces the row (and, once the caller's transaction
    commits, the files) instead of adding another. Call it inside the transaction that hands the jobs on.

    `fresh`: jobs the caller read, with its claim, as having no generated image: not looked for again (a first run,
    the usual case, then costs no read). Should another delivery have added one since, the job's one-to-one
    constraint fails the insert, and with it the caller's transaction."""
    again = [r.job_id for r in rows if r.job_id not in fresh]
    old = list(GeneratedImage.objects.filter(job_id__in=again)) if again else []
    if old:
        GeneratedImage.objects.filter(pk__in=[g.pk for g in old]).delete()

        def delete_files() -> None:
            for g in old:
                for f in (g.image, g.stage1_image, g.preprocessed_image):
                    if f:
                        f.delete(save=False)

        transaction.on_commit(delete_files)
    GeneratedImage.objects.bulk_create(rows)
