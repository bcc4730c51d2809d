"""One row by plain field equalities, through `Model.objects.raw`: for the reads a model worker makes on every batch
(the active generator's version, the live index collection).

Why: `filter(...).first()` builds its SQL through the ORM's compiler on every call: 0.17-0.21 ms warm on this CPU,
and about 1 ms measured inside the model worker, where the read runs between mediapipe and the generators with cold
caches, on the way to each photo's answer. `raw` with the same SQL gives the same instances (each field's database
value converted as the ORM would) in 0.07 ms warm (bench notes: docs/FACTS.md)."""
from __future__ import annotations

from django.db import connection


def first_where(model, **equals):
    """`model.objects.filter(**equals).order_by("pk").first()`, for equalities on the model's own fields."""
    meta = model._meta
    quote = connection.ops.quote_name
    fields = [meta.get_field(name) for name in equals]
    where = " AND ".join(f"{quote(field.column)} = %s" for field in fields)
    params = [field.get_db_prep_value(value, connection) for field, value in zip(fields, equals.values())]
    sql = f"SELECT * FROM {quote(meta.db_table)} WHERE {where} ORDER BY {quote(meta.pk.column)} LIMIT 1"
    return next(iter(model.objects.raw(sql, params)), None)
