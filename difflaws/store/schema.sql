-- difflaws results database: one SQLite file per workspace (<out_dir>/results.sqlite), WAL mode.
-- Written by `difflaws run`; read by the scaling-law fitters and sweep tools.
-- The run directories are the source of truth: a damaged file is moved aside
-- (results.sqlite.damaged-<timestamp>) and rebuilt from them (difflaws.store.rebuild).
-- Status: `running` only while the run's process holds RUN_DIR/.lock; a row left
-- `running` by a dead process becomes `interrupted` the next time the DB is opened.

-- One row per run directory.  Figures come from difflaws.engine.figures(spec).
CREATE TABLE IF NOT EXISTS runs (
    run_id               TEXT PRIMARY KEY,  -- run directory relative to the workspace
    name                 TEXT NOT NULL,     -- spec name
    run_dir              TEXT NOT NULL,     -- absolute path when the run was written
    status               TEXT NOT NULL,     -- running | finished | diverged | failed | interrupted
    objective_kind       TEXT,              -- the registered objective kind (diffusion, autoregressive, ...)
    noise_kind           TEXT,              -- the registered noise kind; NULL for an objective without noise
    noise_label          TEXT,              -- the model family: the noise kind plus its own settings, e.g.
                                            -- "k(a=2)", or the objective kind without noise; runs group by it
    noise_params         TEXT,              -- JSON object: the noise kind's own settings
    backbone_kind        TEXT,
    parameterization_kind TEXT,
    optimizer_kind       TEXT,
    tokenizer_kind       TEXT,
    data_kind            TEXT,
    vocab_size           INTEGER,
    non_embedding_params INTEGER,
    total_params         INTEGER,
    flops_per_token_M    REAL,              -- "DeepSeek-style" M (math.md §5 method 1)
    flops_per_token_6P   REAL,              -- 6 × non-embedding params (method 2)
    batch_size           INTEGER,           -- sequences per optimizer step
    seq_len              INTEGER,
    lr                   REAL,              -- base learning rate (before lr_mult, schedule)
    steps                INTEGER,           -- planned optimizer steps
    warmup_steps         INTEGER,
    cooldown_fraction    REAL,
    seed                 INTEGER,
    last_step            INTEGER,           -- last logged step
    tokens               INTEGER,           -- training tokens seen at last_step
    unique_tokens        INTEGER,           -- distinct training tokens seen: min(tokens, pool); set at the end
    epochs               REAL,              -- tokens / pool tokens (the pool: data.unique_tokens, or the split)
    final_val_nelbo      REAL,              -- nats/token, at the end of the run (exact NLL for AR)
    unigram_entropy      REAL,              -- nats/token, validation split, same tokenizer
    data_metrics         TEXT,              -- JSON object: the data source's extra figures
    bytes_per_token      REAL,
    wall_seconds         REAL,
    started_at           TEXT,              -- ISO-8601 UTC
    updated_at           TEXT
);

-- The resolved spec of each run, as TOML text and as JSON.
CREATE TABLE IF NOT EXISTS configs (
    run_id    TEXT PRIMARY KEY REFERENCES runs(run_id) ON DELETE CASCADE,
    spec_toml TEXT NOT NULL,
    spec_json TEXT NOT NULL
);

-- Full metric history: one row per logged step.  A resumed run rewrites the
-- steps it repeats (identical values), hence the primary key.
CREATE TABLE IF NOT EXISTS metrics (
    run_id            TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
    step              INTEGER NOT NULL,  -- optimizer steps completed
    tokens            INTEGER NOT NULL,  -- training tokens seen
    flops_M           REAL,              -- tokens × flops_per_token_M
    flops_6P          REAL,              -- tokens × flops_per_token_6P
    train_nelbo       REAL,              -- nats/token, unbiased, mean since the last log
    loss              REAL,              -- the optimised objective, mean since the last log
    val_nelbo         REAL,              -- nats/token on held-out data; NULL when not evaluated
    lr                REAL,              -- base LR × schedule at this step
    grad_norm         REAL,              -- before clipping, mean since the last log
    tokens_per_second REAL,
    wall_seconds      REAL,
    extra             TEXT,              -- JSON object of any other logged figures
    PRIMARY KEY (run_id, step)
);

CREATE INDEX IF NOT EXISTS metrics_by_run ON metrics(run_id, step);

-- Figures measured after training by `difflaws eval` and `difflaws lm-eval`: one row per
-- metric per evaluation, kept as a history (evaluating again adds rows).  Definitions
-- and protocols of every metric: docs/evaluation.md.
CREATE TABLE IF NOT EXISTS evaluations (
    run_id     TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
    step       INTEGER NOT NULL,  -- the checkpoint's optimizer step
    metric     TEXT NOT NULL,     -- e.g. val_nelbo, zero_shot_nelbo, sample_entropy, gen_ppl,
                                  -- lm-eval/<task>/<metric>
    value      REAL,              -- NULL when undefined (NaN)
    stderr     REAL,              -- standard error of value; NULL when there is none
    n          INTEGER,           -- what was averaged: tokens, samples, batches, documents
    settings   TEXT,              -- JSON object: sampler, steps, judge, data... that produced it
    created_at TEXT NOT NULL      -- ISO-8601 UTC
);

CREATE INDEX IF NOT EXISTS evaluations_by_run ON evaluations(run_id, metric, step);
