"""``ablate.sweep``: run a study's trials through Optuna with ask/tell, resumably.

One Optuna trial is one configuration trained with one seed. A configuration that the
sampler proposes is queued again for each further seed (``enqueue_trial``), so every
configuration is repeated across seeds and the summaries can give confidence intervals.
With the grid sampler the whole grid is queued up front, seed by seed; workers pop
queued trials atomically, so none is run twice.

``n_trials`` is the study's total budget: running the same command again runs only
what is missing, and a larger ``n_trials`` extends the study.
"""

from __future__ import annotations

import math
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import Trial, TrialState

from ablate import records as rec
from ablate.config import RunConfig
from ablate.engine import run
from ablate.errors import AblateError, ConfigError
from ablate.planning import (  # re-exported: the sweep API lives here
    SweepPlan,
    make_pruner,
    make_sampler,
    plan_sweep,
    resolve_fuse,
)
from ablate.records import NOTES_ATTR, PROTOCOL_ATTR, STUDY_ATTR
from ablate.result import EpochMetrics, RunResult
from ablate.storage import is_storage_error, mask, open_storage
from ablate.study import Study, Value, seeds_grid
from ablate.trainer import Observer, StopRun
from ablate.workers import (
    FileCheckpoint,
    Heartbeat,
    Presence,
    default_workers,
    heartbeat_enabled,
    interrupt_handling,
    run_pool,
)

FINGERPRINT_ATTR = "ablate:fingerprint"
INTERRUPTED = "interrupted"
DUPLICATE = "duplicate"
ABANDONED = "abandoned"


def _differences(stored: dict[str, Any], current: dict[str, Any]) -> list[str]:
    out = []
    for key in sorted(set(stored) | set(current)):
        if key in ("device", "data_dir", "download", "eval_batch_size"):
            continue
        if stored.get(key) != current.get(key):
            out.append(f"{key} {stored.get(key)!r} -> {current.get(key)!r}")
    return out


def open_study(plan: SweepPlan) -> tuple[optuna.Study, bool]:
    """Create the plan's study, or load it and check that it is the same experiment.

    Returns the study and whether this call created it.
    """
    storage = open_storage(plan.storage, heartbeat_interval=plan.heartbeat, retry_failed=True)
    fingerprint = plan.study.fingerprint(plan.protocol)
    pruner = make_pruner(plan.pruner, plan.protocol.epochs, plan.seeds)
    try:
        existing = optuna.load_study(study_name=plan.name, storage=storage)
    except KeyError:
        existing = None
    except Exception as exc:
        raise AblateError(f"cannot read storage {mask(plan.storage)}: {exc}") from None
    protocol_json = plan.protocol.model_dump(mode="json")
    if existing is None:
        try:
            study = optuna.create_study(
                study_name=plan.name,
                storage=storage,
                direction=plan.study.direction,
                sampler=make_sampler(plan.sampler, plan.protocol.seed),
                pruner=pruner,
            )
        except optuna.exceptions.DuplicatedStudyError:  # another worker was first
            time.sleep(1)
            return open_study(plan)
        study.set_user_attr(STUDY_ATTR, plan.study.model_dump(mode="json"))
        study.set_user_attr(PROTOCOL_ATTR, protocol_json)
        study.set_user_attr(NOTES_ATTR, plan.notes)
        queue = SweepRunner(plan, study)
        if plan.sampler == "grid":
            queue.queue_grid(study.get_trials(deepcopy=False))
        else:
            queue.queue_cover(study.get_trials(deepcopy=False))
        # Written last: other workers wait for it, so they never see a half-queued grid.
        study.set_user_attr(FINGERPRINT_ATTR, fingerprint)
        return study, True
    stored = _wait_for_fingerprint(existing)
    if stored is None:
        raise ConfigError(
            f"study {plan.name!r} in {mask(plan.storage)} was not created by ablate; "
            f"choose another --name"
        )
    if stored != fingerprint:
        what = _differences(existing.user_attrs.get(PROTOCOL_ATTR, {}), protocol_json)
        detail = ("protocol differs: " + "; ".join(what)) if what else "search space differs"
        raise ConfigError(
            f"study name {plan.name!r} in {mask(plan.storage)} was used with a different "
            f"search space or protocol ({detail}); use --name NEW or another --storage"
        )
    trials = len(existing.get_trials(deepcopy=False))
    study = optuna.load_study(
        study_name=plan.name,
        storage=storage,
        pruner=pruner,
        # A fresh seed per session, so a resumed random/TPE sweep does not repeat itself.
        sampler=make_sampler(plan.sampler, plan.protocol.seed * 100_003 + trials + os.getpid()),
    )
    study.set_user_attr(NOTES_ATTR, plan.notes)
    return study, False


def _wait_for_fingerprint(study: optuna.Study, timeout: float = 60) -> str | None:
    """A study another worker is still setting up gets its fingerprint last: wait for it.

    Returns None for a study that is not ablate's (it has trials but no fingerprint).
    """
    deadline = time.monotonic() + timeout
    while True:
        attrs = study.user_attrs
        if FINGERPRINT_ATTR in attrs:
            return attrs[FINGERPRINT_ATTR]
        setting_up = STUDY_ATTR in attrs or not study.get_trials(deepcopy=False)
        if not setting_up or time.monotonic() > deadline:
            return None
        time.sleep(0.5)


def suggest(trial: Trial, study: Study, grid_mode: bool) -> dict[str, Value]:
    """Ask the trial for every active parameter (fixed values for queued trials)."""
    params: dict[str, Value] = {}
    for param in study.space:
        if not study.active(param, params):
            continue
        if param.type == "categorical" or (grid_mode and param.grid):
            values = param.grid_values()
            params[param.name] = trial.suggest_categorical(param.name, values)  # type: ignore[arg-type]
        elif param.type == "int":
            params[param.name] = trial.suggest_int(
                param.name, int(param.low or 0), int(param.high or 0), step=int(param.step or 1)
            )
        else:
            params[param.name] = trial.suggest_float(
                param.name,
                float(param.low or 0),
                float(param.high or 0),
                log=param.type == "logfloat",
                step=param.step,
            )
    return params


class OptunaReporter(Observer):
    """Reports each epoch to Optuna, then asks whether to prune (as Optuna's examples do)."""

    def __init__(self, trial: Trial, metric: str, pruner: str) -> None:
        self.trial, self.metric, self.pruner = trial, metric, pruner

    def on_start(self, result: RunResult, *, steps_per_epoch: int, train_images: int) -> None:
        # A resumed trial re-reports the epochs its checkpoint already holds.
        if result.resumed_from_epoch:
            self.trial.set_user_attr(rec.RESUMED_FROM, result.resumed_from_epoch)
            for metrics in result.epochs:
                self.trial.report(self._value(metrics), metrics.epoch)

    def _value(self, metrics: EpochMetrics) -> float:
        return metrics.val_loss if self.metric == "val_loss" else metrics.val_acc

    def on_epoch(self, result: RunResult, metrics: EpochMetrics) -> None:
        value = self._value(metrics)
        self.trial.report(value, metrics.epoch)
        if self.trial.should_prune():
            raise StopRun(
                "pruned",
                f"pruned after epoch {metrics.epoch} by the {self.pruner} "
                f"pruner (val_acc {metrics.val_acc:.4f})",
            )


def objective_value(result: RunResult, metric: str) -> float | None:
    if not result.epochs:
        return None
    if metric == "best_val_acc":
        return result.best_val_acc
    if metric == "val_loss":
        return result.epochs[-1].val_loss
    return result.final_val_acc


def store_result(trial: Trial, result: RunResult) -> None:
    trial.set_user_attr(rec.PLACEMENT, result.placement)
    trial.set_user_attr(rec.SLOTS, result.slots)
    trial.set_user_attr(rec.STATUS, result.status)
    trial.set_user_attr(rec.REASON, result.reason)
    trial.set_user_attr(rec.ENVIRONMENT, result.environment)
    trial.set_user_attr(rec.WALL_TIME, round(result.wall_time_s, 3))
    trial.set_user_attr(
        rec.CURVES,
        {
            key: [round(getattr(m, key), 6) for m in result.epochs]
            for key in ("val_acc", "val_loss", "train_loss", "train_acc", "lr")
        },
    )


def superseded(trials: list[optuna.trial.FrozenTrial]) -> set[int]:
    """Numbers of failed trials that a retry replaces (interrupted or stale ones)."""
    out: set[int] = set()
    for t in trials:
        for origin in (t.user_attrs.get(rec.RETRY_OF), t.system_attrs.get("failed_trial")):
            if origin is not None:
                out.add(int(origin))
    return out


def pop_queued(study: optuna.Study) -> Trial | None:
    """Pop a queued trial, or None: never create a fresh one (``ask`` would, if another
    worker emptied the queue between our look and our ask, and that fresh sample could
    repeat a grid point). Uses the pop that ``Study.ask`` itself uses."""
    study._thread_local.cached_all_trials = None
    trial_id = study._pop_waiting_trial_id()
    return None if trial_id is None else Trial(study, trial_id)


def _replaced(t: optuna.trial.FrozenTrial, replaced: set[int]) -> bool:
    """A failed trial whose work another trial does (a retry, or the original of a copy)."""
    return t.state == TrialState.FAIL and (
        t.number in replaced or t.user_attrs.get(rec.STATUS) in (DUPLICATE, ABANDONED)
    )


def grid_point(t: optuna.trial.FrozenTrial) -> tuple[str, Any]:
    return rec.config_key(t.system_attrs.get("fixed_params") or t.params), t.user_attrs.get(
        rec.SEED
    )


class SweepRunner:
    """The ask/run/tell loop of one worker process."""

    def __init__(
        self, plan: SweepPlan, study: optuna.Study, display: Any = None, *, may_queue: bool = True
    ) -> None:
        self.plan, self.study, self.display = plan, study, display
        self.grid_mode = plan.sampler == "grid"
        self.may_queue = may_queue
        self.started = time.monotonic()
        self.ran = 0
        self.heartbeat: Heartbeat | None = None
        self.popped: dict[int, Trial] = {}  # popped by this worker, not yet told
        self.fuse = 1 if plan.fuse == "auto" else int(plan.fuse)

    # budget ----------------------------------------------------------------

    def counted(self, trials: list[optuna.trial.FrozenTrial]) -> int:
        """Trials that use budget: all but failed ones that a retry replaces."""
        return sum(1 for t in trials if not _replaced(t, superseded(trials)))

    def queue_grid(self, trials: list[optuna.trial.FrozenTrial]) -> int:
        """Queue grid points (seed-major) that are neither run nor queued, up to budget."""
        replaced = superseded(trials)
        have = {grid_point(t) for t in trials if not _replaced(t, replaced)}
        room = self.plan.n_trials - self.counted(trials)
        queued = 0
        for params, seed in seeds_grid(self.plan.study):
            if room <= 0:
                break
            if (rec.config_key(params), seed) in have:
                continue
            self.study.enqueue_trial(params, user_attrs={rec.SEED: seed}, skip_if_exists=False)
            room -= 1
            queued += 1
        return queued

    def queue_cover(self, trials: list[optuna.trial.FrozenTrial]) -> int:
        """Queue each combination of the study's ``cover`` parameters not tried yet (the
        sampler fills in the other parameters), within the budget."""
        combos = self.plan.study.cover_combos()
        if self.grid_mode or not combos:
            return 0
        replaced = superseded(trials)
        keys = self.plan.study.cover
        tried = set()
        for t in trials:
            if not _replaced(t, replaced):
                params = t.system_attrs.get("fixed_params") or t.params
                tried.add(rec.config_key({k: params.get(k) for k in keys}))
        room = (self.plan.n_trials - self.counted(trials)) // self.plan.seeds
        queued = 0
        for combo in combos:
            if queued >= room:
                break
            if rec.config_key(combo) not in tried:
                self.study.enqueue_trial(combo, skip_if_exists=False)
                queued += 1
        return queued

    def repair(self, trials: list[optuna.trial.FrozenTrial]) -> int:
        """Queue again any interrupted trial whose retry is missing (e.g. a hard exit)."""
        replaced = superseded(trials)
        queued = 0
        for t in trials:
            if (
                t.state == TrialState.FAIL
                and t.user_attrs.get(rec.STATUS) == INTERRUPTED
                and t.number not in replaced
            ):
                self._enqueue_retry(t.number, t.params, int(t.user_attrs.get(rec.SEED, 0)))
                queued += 1
        return queued

    def _enqueue_retry(self, number: int, params: dict[str, Any], seed: int) -> None:
        self.study.enqueue_trial(params, user_attrs={rec.SEED: seed, rec.RETRY_OF: number})

    def next_trial(self) -> Trial | None:
        if self.plan.timeout is not None and time.monotonic() - self.started > self.plan.timeout:
            return None
        if heartbeat_enabled(self.study):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                optuna.storages.fail_stale_trials(self.study)  # re-queues dead workers' trials
        trials = self.study.get_trials(deepcopy=False)
        queued = self.repair(trials)
        if self.may_queue and self.grid_mode:
            queued += self.queue_grid(trials)
        if queued:
            trials = self.study.get_trials(deepcopy=False)
        waiting = any(t.state == TrialState.WAITING for t in trials)
        room = self.plan.n_trials - self.counted(trials)
        if not waiting and (self.grid_mode or room < self.plan.seeds):
            return None
        if self.grid_mode:
            trial = pop_queued(self.study)
            if trial is None:  # another worker took the last queued point meanwhile
                return None
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "heartbeat is supposed to be used with optimize"
                trial = self.study.ask()
        self.popped[trial.number] = trial
        if self.heartbeat is not None:  # beat at once: a crash now must still go stale
            self.heartbeat.track(self.heartbeat.trial_ids | {trial._trial_id})
        if self.is_duplicate(trial, trials):
            return self.next_trial()
        return trial

    def is_duplicate(self, trial: Trial, trials: list[optuna.trial.FrozenTrial]) -> bool:
        """Drop a popped trial whose configuration and seed an earlier trial already covers.

        Crashes at the wrong moment, or two processes repairing at once, can queue the same
        grid point twice; the lower-numbered copy wins, so the work is never done twice.
        """
        frozen = self.study._storage.get_trial(trial._trial_id)
        point = grid_point(frozen)
        if point[1] is None:  # a fresh sample, not a queued point
            return False
        replaced = superseded(trials)
        for other in trials:
            if other.number >= trial.number or _replaced(other, replaced):
                continue
            if other.state == TrialState.FAIL and other.user_attrs.get(rec.STATUS) == INTERRUPTED:
                continue
            if grid_point(other) == point:
                self._tell_failed(
                    trial, DUPLICATE, f"same configuration and seed as trial {other.number}"
                )
                return True
        return False

    def next_trials(self) -> list[Trial]:
        """Up to ``fuse`` trials to train together (one when not fusing)."""
        trials: list[Trial] = []
        while len(trials) < self.fuse:
            trial = self.next_trial()
            if trial is None:
                break
            trials.append(trial)
        return trials

    # one trial ---------------------------------------------------------------

    def prepare(self, trial: Trial) -> tuple[dict[str, Value], int, RunConfig]:
        """Suggest a trial's parameters, queue its other seeds, and store its config."""
        params = suggest(trial, self.plan.study, self.grid_mode)
        seed = trial.user_attrs.get(rec.SEED)
        if seed is None:
            # A fresh sample. A sampler may propose a configuration it has seen before (TPE
            # does, on categorical spaces): it then gets the next unused seed, never a rerun.
            key = rec.config_key(params)
            trials = self.study.get_trials(deepcopy=False)
            replaced = superseded(trials)
            used = {
                grid_point(t)[1]
                for t in trials
                if t.number != trial.number
                and not _replaced(t, replaced)
                and grid_point(t)[0] == key
            }
            seed = min(set(range(len(used) + 1)) - used)
            trial.set_user_attr(rec.SEED, seed)
            if not used:
                for extra in range(1, self.plan.seeds):
                    self.study.enqueue_trial(params, user_attrs={rec.SEED: extra})
        config = self.plan.study.config_for(params, int(seed), self.plan.protocol)
        trial.set_user_attr(rec.CONFIG, config.model_dump(mode="json"))
        trial.set_user_attr(rec.CONFIG_KEY, rec.config_key(params))
        return params, int(seed), config

    def run_trial(
        self, trial: Trial, prepared: tuple[dict[str, Value], int, RunConfig] | None = None
    ) -> RunResult | None:
        params, seed, config = prepared or self.prepare(trial)
        checkpoint = FileCheckpoint(
            self.plan.artifacts, self.plan.name, rec.config_key(params), seed
        )
        observers: list[Observer] = [
            OptunaReporter(trial, self.plan.study.metric, self.plan.pruner)
        ]
        if self.display is not None:
            observers.append(self.display.trial_observer(trial.number, params, int(seed)))
        if self.heartbeat is not None:
            self.heartbeat.track({trial._trial_id})
            self.heartbeat.presence.update(trial=trial.number, state="running")
        try:
            result = run(config, observers=observers, checkpoint=checkpoint)
        except optuna.exceptions.UpdateFinishedTrialError:
            self._taken_over(trial)
            return None
        except AblateError as exc:
            self._tell_failed(trial, "error", str(exc))
            raise
        except Exception as exc:
            if is_storage_error(exc):
                raise AblateError(
                    f"lost the storage {mask(self.plan.storage)}: "
                    f"{mask(str(exc).splitlines()[0])}; trial {trial.number} is re-queued "
                    f"once its heartbeat goes stale"
                ) from None
            # A crash in one trial never stops the sweep.
            self._tell_failed(trial, "error", f"{type(exc).__name__}: {exc}")
            if self.display is not None:
                self.display.trial_failed(trial.number, f"{type(exc).__name__}: {exc}")
            return None
        finally:
            if self.heartbeat is not None:
                self.heartbeat.trial_ids = set()
                self.heartbeat.presence.update(trial=None, state="idle")
        self._finish(trial, result)
        checkpoint.remove()
        return result

    def run_group(self, trials: list[Trial]) -> list[RunResult | None]:
        """Train several trials as one fused model; each is reported and told alone."""
        from ablate.fused import supports_fusion, train_fused

        prepared = [self.prepare(trial) for trial in trials]
        configs = [config for _, _, config in prepared]
        ok, why = supports_fusion(configs)
        if not ok:
            self.say(f"group of {len(trials)} trains one by one: {why}")
            return [self.run_trial(t, p) for t, p in zip(trials, prepared, strict=True)]
        observers: list[list[Observer]] = [
            [OptunaReporter(trial, self.plan.study.metric, self.plan.pruner)] for trial in trials
        ]
        if self.display is not None:
            seed = prepared[0][1]
            observers[0].append(
                self.display.trial_observer(
                    trials[0].number, {"fused": f"{len(trials)} trials"}, seed
                )
            )
        if self.heartbeat is not None:
            self.heartbeat.track({trial._trial_id for trial in trials})
            self.heartbeat.presence.update(trial=[t.number for t in trials], state="running")
        try:
            results = train_fused(configs, observers=observers, on_event=self.say)
        except AblateError as exc:
            for trial in trials:
                self._tell_failed(trial, "error", str(exc))
            raise
        except Exception as exc:
            if is_storage_error(exc):
                raise
            for trial in trials:  # a crash in one group never stops the sweep
                self._tell_failed(trial, "error", f"{type(exc).__name__}: {exc}")
            return [None] * len(trials)
        finally:
            if self.heartbeat is not None:
                self.heartbeat.trial_ids = set()
                self.heartbeat.presence.update(trial=None, state="idle")
        for trial, result in zip(trials, results, strict=True):
            self._finish(trial, result)
        return list(results)

    def say(self, message: str) -> None:
        console = getattr(self.display, "console", None)
        if console is not None:
            console.print(f"note: {message}", soft_wrap=True)
        else:
            sys.stderr.write(f"ablate: {message}\n")

    def _finish(self, trial: Trial, result: RunResult) -> None:
        try:
            store_result(trial, result)
            value = objective_value(result, self.plan.study.metric)
            if result.status == "pruned":
                self.study.tell(trial, state=TrialState.PRUNED)
            elif result.status == "diverged" or value is None or not math.isfinite(value):
                self.study.tell(trial, state=TrialState.FAIL)
            else:
                self.study.tell(trial, value)
        except optuna.exceptions.UpdateFinishedTrialError:
            self._taken_over(trial)
        self.popped.pop(trial.number, None)

    def _taken_over(self, trial: Trial) -> None:
        """This worker was presumed dead (its heartbeat went stale) and the trial was
        re-queued for another worker: drop this copy, the retry counts."""
        self.popped.pop(trial.number, None)
        sys.stderr.write(
            f"ablate: warning: trial {trial.number} was re-queued while this "
            f"worker ran it (heartbeat went stale); this copy is dropped\n"
        )

    def requeue_unfinished(self) -> None:
        """Ctrl-C: mark every trial this worker popped but has not told as interrupted and
        queue it again, so a rerun finishes it, wherever the interrupt landed."""
        for trial in list(self.popped.values()):
            frozen = self.study._storage.get_trial(trial._trial_id)
            if frozen.state.is_finished():  # told just before the interrupt landed
                continue
            seed = frozen.user_attrs.get(rec.SEED)
            params = frozen.system_attrs.get("fixed_params") or frozen.params
            if seed is None:  # a fresh sample, interrupted before it had a configuration
                self._tell_failed(trial, ABANDONED, "interrupted before it started")
                continue
            self._tell_failed(trial, INTERRUPTED, "interrupted (Ctrl-C); re-queued")
            self._enqueue_retry(trial.number, params, int(seed))

    def _tell_failed(self, trial: Trial, status: str, reason: str) -> None:
        trial.set_user_attr(rec.STATUS, status)
        trial.set_user_attr(rec.REASON, reason)
        self.study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)
        self.popped.pop(trial.number, None)

    def run(self) -> None:
        presence = Presence(self.study, str(self.plan.device))
        with interrupt_handling(), Heartbeat(self.study, presence, self.plan.heartbeat / 2) as beat:
            self.heartbeat = beat
            try:
                while True:
                    trials = self.next_trials()
                    if not trials:
                        return
                    if len(trials) == 1:
                        results = [self.run_trial(trials[0])]
                    else:
                        results = self.run_group(trials)
                    self.ran += len(trials)
                    if self.display is not None:
                        for trial, result in zip(trials, results, strict=True):
                            self.display.trial_done(self.study, trial.number, result)
            except KeyboardInterrupt:
                self.requeue_unfinished()
                raise
            except Exception as exc:
                if not is_storage_error(exc):
                    raise
                first = str(getattr(exc, "orig", None) or exc).strip().splitlines() or ["?"]
                raise AblateError(
                    f"lost the storage {mask(self.plan.storage)}: {mask(first[0])}; "
                    f"a trial left running is re-queued once its heartbeat goes stale"
                ) from None


POOL_OPTIONS = (
    "storage",
    "name",
    "sampler",
    "pruner",
    "n_trials",
    "timeout",
    "seeds",
    "epochs",
    "train_size",
    "test_size",
    "device",
    "dataset",
    "data_dir",
    "download",
    "full",
    "heartbeat",
    "artifacts",
)


def sweep(
    study: Study | str | Path,
    *,
    progress: bool = True,
    console: Any = None,
    workers: int | None = None,
    devices: list[str] | None = None,
    **overrides: Any,
) -> optuna.Study:
    """Run (or resume) a study and return the ``optuna.Study``.

    ``overrides`` are those of :func:`plan_sweep`: ``n_trials``, ``timeout``, ``seeds``,
    ``sampler``, ``pruner``, ``storage``, ``name``, ``epochs``, ``train_size``,
    ``test_size``, ``device``, ``dataset``, ``data_dir``, ``download``, ``full``,
    ``heartbeat``, ``artifacts``. ``workers`` local processes share the storage
    (default: what this machine runs best); ``devices`` spreads them over GPUs.
    """
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    plan = plan_sweep(study, **overrides)
    fuse, why = resolve_fuse(plan)
    plan.notes.append(f"trainer: {why}")
    ostudy, _ = open_study(plan)
    auto_workers, threads = default_workers(plan.device)
    count = workers or (len(devices) if devices else auto_workers)
    if workers and not os.environ.get("ABLATE_WORKERS"):
        threads = max(1, (os.cpu_count() or 1) // count)
    runner = SweepRunner(plan, ostudy)
    runner.fuse = fuse
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        runner.repair(ostudy.get_trials(deepcopy=False))
        if runner.grid_mode:
            runner.queue_grid(ostudy.get_trials(deepcopy=False))
        else:
            runner.queue_cover(ostudy.get_trials(deepcopy=False))
    display = None
    if progress:
        from ablate.sweep_display import SweepDisplay

        display = SweepDisplay(plan, console=console, workers=count)
        display.start(ostudy)
    try:
        if count <= 1:
            runner.display = display
            runner.run()
        else:
            spec = plan.study if not isinstance(study, str | Path) else study
            kwargs = {k: v for k, v in overrides.items() if k in POOL_OPTIONS}
            kwargs.update(
                fuse=fuse,
                storage=plan.storage,
                name=plan.name,
                n_trials=plan.n_trials,
                seeds=plan.seeds,
                sampler=plan.sampler,
                pruner=plan.pruner,
            )
            with interrupt_handling():
                codes = run_pool(
                    spec,
                    kwargs,
                    workers=count,
                    threads=threads,
                    devices=devices,
                    watch=(lambda: display.poll(ostudy)) if display else None,
                )
            if any(code == 2 for code in codes):
                raise AblateError("a worker stopped with an error (see above)")
            if any(code == 130 for code in codes):
                raise KeyboardInterrupt
    finally:
        if display is not None:
            display.stop()
    return ostudy
