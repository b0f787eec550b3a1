"""``python -m shijim.dashboard.app``: a terminal dashboard over running shards, refreshed at 10 Hz.

    SHIJIM_ADMIN_TOKEN=... python -m shijim.dashboard.app --admin http://127.0.0.1:8081 \\
        [--admin http://127.0.0.1:8082 ...] [--tradingshard NAME [--namespace NS]]

Read-only except two keys: ``K`` engages the kill switch and ``R`` resumes, each after a
confirmation, on everything the dashboard is attached to (each runtime's admin listener as the
DASHBOARD source; the TradingShard's ``spec.killSwitch``). Both keys are App-level priority
bindings, so they work whatever has focus. docs/dashboard.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Callable, Sequence

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Static
from textual.worker import WorkerCancelled, WorkerFailed

from shijim.dashboard.links import (
    AdminLink,
    LinkError,
    TradingShardLink,
    TradingShardView,
    parse_admin_url,
)
from shijim.dashboard.model import (
    FEED_QUIET_S,
    Action,
    Command,
    Link,
    Reading,
    Status,
    admin_ack,
    command_line,
    event_age,
    flows,
    fmt_age,
    fmt_num,
    fmt_price,
    fmt_twd,
    link_status,
    spark,
    tradingshard_ack,
)
from shijim.dashboard.panels import Cell, Column, Row, TablePanel, TextPanel
from shijim.domain import Side
from shijim.gateway.taipei_time import utc_ns_to_taipei
from shijim.strategy.snapshot import BookTop, SystemSnapshot, WorkingOrder

ENV_TOKEN = "SHIJIM_ADMIN_TOKEN"  # noqa: S105 - the variable's name, not a secret
GREY = "grey50"
STATE_STYLE = {"ACTIVE": "bold green", "REDUCING": "bold yellow", "HALTED": "bold red"}
LINK_STYLE = {Link.LIVE: "green", Link.WAITING: "yellow", Link.STALE: GREY, Link.DOWN: "bold red"}

SHARD_COLUMNS = (
    Column("shard", 14, "left"),
    Column("link", 22, "left"),
    Column("state", 8, "left"),
    Column("kill-switch demands", 22, "left"),
    Column("feed", 9, "left"),
    Column("last event", 10),
    Column("ring lag", 8),
    Column("lost", 5),
    Column("decisions", 9),
    Column("orders", 7),
    Column("fills", 6),
    Column("rejects", 7),
)
BOOK_COLUMNS = (
    Column("shard", 6, "left"),
    Column("code", 7, "left"),
    Column("bid sz", 6),
    Column("bid", 9),
    Column("ask", 9),
    Column("ask sz", 6),
    Column("spread", 6),
    Column("micro", 10),
    Column("OFI 1s", 6),
    Column("MLOFI 1s", 8),
    Column("micro 2.4s", 10, "left"),
    Column("pos", 4),
)
ORDER_COLUMNS = (
    Column("shard", 6, "left"),
    Column("order", 10, "left"),
    Column("code", 7, "left"),
    Column("side", 4, "left"),
    Column("qty", 4),
    Column("left", 4),
    Column("price", 9),
    Column("status", 14, "left"),
    Column("tag", 14, "left"),
)
PNL_COLUMNS = (
    Column("shard", 6, "left"),
    Column("code", 6, "left"),
    Column("net", 4),
    Column("avg", 9),
    Column("gross", 9),
    Column("fees", 7),
    Column("pnl net", 9),
)
TS_COLUMNS = (
    Column("shard", 5),
    Column("pod", 24, "left"),
    Column("state", 8, "left"),
    Column("ack", 5, "left"),
    Column("generation", 10),
    Column("heartbeat", 10),
)


class ConfirmScreen(ModalScreen[bool]):
    """Yes/no before anything is sent; ``Y`` or the focused button answers."""

    BINDINGS = [Binding("y", "answer(True)", "Yes"), Binding("n,escape", "answer(False)", "No")]
    DEFAULT_CSS = """
    ConfirmScreen { align: center middle; }
    ConfirmScreen > Vertical { width: 72; height: auto; border: thick $error; padding: 1 2;
                               background: $surface; }
    ConfirmScreen .question { text-style: bold; }
    ConfirmScreen Horizontal { height: auto; margin-top: 1; }
    ConfirmScreen Button { margin-right: 2; }
    """

    def __init__(self, question: str, detail: str, yes: str, focus_yes: bool) -> None:
        super().__init__()
        self.question = question
        self.detail = detail
        self.yes = yes
        self.focus_yes = focus_yes

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.question, classes="question")
            yield Static(self.detail)
            with Horizontal():
                yield Button(f"{self.yes} (y)", id="yes", variant="error")
                yield Button("Cancel (n)", id="no")

    def on_mount(self) -> None:
        self.query_one("#yes" if self.focus_yes else "#no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class DashboardApp(App[None]):
    TITLE = "shijim dashboard"
    ENABLE_COMMAND_PALETTE = False  # no text input to take the keys (K, R) from anyone
    CSS = """
    #title { height: 1; background: $primary-darken-2; color: $text; padding: 0 1; }
    #tradingshard { height: auto; max-height: 10; }
    #tradingshard RowsView { height: auto; max-height: 6; }
    #shards { height: auto; max-height: 12; }
    #shards RowsView { height: auto; max-height: 8; }
    #main { height: 1fr; }
    #left { width: 101; }
    #right { width: 1fr; min-width: 40; }
    #strategy { height: auto; max-height: 9; }
    #strategy, #rejects, #commands { text-wrap: nowrap; text-overflow: ellipsis; }
    #commands { height: auto; min-height: 3; max-height: 6; }
    """
    BINDINGS = [
        Binding("K,k", "kill", "Kill switch", priority=True),
        Binding("R,r", "resume", "Resume", priority=True),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(
        self,
        admins: Sequence[AdminLink] = (),
        tradingshard: TradingShardLink | None = None,
        *,
        poll_s: float = 0.1,
        k8s_poll_s: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
        wall_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        super().__init__()
        self.admins = list(admins)
        self.readings = [Reading(a.address.label, a.address.label) for a in self.admins]
        self.tradingshard = tradingshard
        self.tradingshard_view: TradingShardView | None = None
        self.tradingshard_error = "" if tradingshard is None else "not read yet"
        self.poll_s = poll_s
        # The runtime sends at its own rate (10 Hz); a slower repaint asks for fewer documents.
        self.stream_interval_ms = None if poll_s <= 0.1 else round(poll_s * 1000)
        self.k8s_poll_s = k8s_poll_s
        self.clock = clock
        self.wall_ns = wall_ns
        self.commands: list[Command] = []
        self.ticks = 0  # panel refreshes (10 Hz)
        self.snapshots_received = 0  # new snapshots, all shards together
        self._title_shown = ""
        # The panels, held here: the refresh timer may fire once more while the app closes, when
        # a query would find nothing.
        self.title_bar = Static("", id="title")
        self.ts_panel = TablePanel("TradingShard", TS_COLUMNS, id="tradingshard")
        self.shards_panel = TablePanel("shards", SHARD_COLUMNS, id="shards")
        self.books_panel = TablePanel("books", BOOK_COLUMNS, id="books")
        self.orders_panel = TablePanel("working orders", ORDER_COLUMNS, id="orders")
        self.pnl_panel = TablePanel("positions and PnL (TWD)", PNL_COLUMNS, id="pnl")
        self.strategy_panel = TextPanel("strategy", id="strategy")
        self.rejects_panel = TextPanel("risk rejects", id="rejects")
        self.commands_panel = TextPanel("kill switch", id="commands")

    # -- layout --------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield self.title_bar
        if self.tradingshard is not None:
            yield self.ts_panel
        yield self.shards_panel
        with Horizontal(id="main"):
            with Vertical(id="left"):
                yield self.books_panel
                yield self.orders_panel
            with Vertical(id="right"):
                yield self.pnl_panel
                yield self.strategy_panel
                yield self.rejects_panel
        yield self.commands_panel
        yield Footer()

    def on_mount(self) -> None:
        for reading, link in zip(self.readings, self.admins, strict=True):
            self.run_worker(self._poll_admin(reading, link), group="poll", exit_on_error=False)
        if self.tradingshard is not None:
            self.run_worker(self._poll_tradingshard(), group="poll", exit_on_error=False)
        self.refresh_panels()
        self.set_interval(self.poll_s, self.refresh_panels)

    async def on_unmount(self) -> None:
        """The pollers and pending commands end with the app, not after it: cancelled and
        awaited here, before the app returns."""
        workers = list(self.workers)
        for w in workers:
            w.cancel()
        for w in workers:
            try:
                await w.wait()
            except (WorkerCancelled, WorkerFailed):
                pass

    # -- polling (async workers: cancelled with the app) ---------------------------------------
    async def _poll_admin(self, reading: Reading, link: AdminLink) -> None:
        """The runtime's snapshot stream, reopened by itself after a loss (back-off doubling
        from ``poll_s`` to 1 s, reset by the first document of a new stream)."""
        delay = self.poll_s
        while True:
            try:
                async for pub in link.publications(self.stream_interval_ms):
                    if reading.received(pub, self.clock()):
                        self.snapshots_received += 1
                    delay = self.poll_s
            except Exception as exc:  # LinkError names the cause; anything else, its type
                why = str(exc) if isinstance(exc, LinkError) else f"{type(exc).__name__}: {exc}"
                reading.failed(why[:160], self.clock())
            await asyncio.sleep(delay)
            delay = min(1.0, delay * 2)  # reconnect by itself, without hammering

    async def _poll_tradingshard(self) -> None:
        link = self.tradingshard
        assert link is not None
        while True:
            started = time.monotonic()
            try:
                self.tradingshard_view = await asyncio.to_thread(link.read)
                self.tradingshard_error = ""
            except Exception as exc:  # LinkError and ValueError name the cause
                self.tradingshard_error = f"{type(exc).__name__}: {exc}"[:120]
            await asyncio.sleep(max(0.0, self.k8s_poll_s - (time.monotonic() - started)))

    # -- the kill switch -----------------------------------------------------------------------
    def _targets(self) -> list[str]:
        out = [label for label, _ in row_tags(self.readings)]
        if self.tradingshard is not None:
            out.append(self.tradingshard.label)
        return out

    def action_kill(self) -> None:
        self._confirm(Action.ENGAGE)

    def action_resume(self) -> None:
        self._confirm(Action.RESUME)

    def _confirm(self, action: Action) -> None:
        if isinstance(self.screen, ConfirmScreen):
            return  # K or R again while asked: the open question stands
        targets = self._targets()
        if not targets:
            return
        now = self.clock()
        lines = []
        for r, (label, _) in zip(self.readings, row_tags(self.readings), strict=True):
            lines.append(f"  {label}: {link_status(r, now).text}")
        if self.tradingshard is not None:
            lines.append(f"  {self.tradingshard.label}: spec.killSwitch")
        if action is Action.ENGAGE:
            question = "Engage the kill switch? Every target goes HALTED, working orders cancelled:"
            screen = ConfirmScreen(question, "\n".join(lines), "Engage", focus_yes=True)
        else:
            question = "Resume trading? Releases the dashboard's demand (other demands stay):"
            screen = ConfirmScreen(question, "\n".join(lines), "Resume", focus_yes=False)

        def answered(yes: bool | None) -> None:
            if yes:
                self._send(action)

        self.push_screen(screen, answered)

    def _send(self, action: Action) -> None:
        now, wall = self.clock(), self.wall_ns()
        labels = row_tags(self.readings)
        for i, link in enumerate(self.admins):
            cmd = Command(action, labels[i][0], now, wall, index=i)
            self.commands.append(cmd)
            self.run_worker(self._send_admin(link, cmd), group="command", exit_on_error=False)
        if self.tradingshard is not None:
            cmd = Command(action, self.tradingshard.label, now, wall)
            self.commands.append(cmd)
            self.run_worker(self._send_tradingshard(cmd), group="command", exit_on_error=False)
        del self.commands[: -2 * len(self._targets())]  # this action and the one before
        self.refresh_panels()

    async def _send_admin(self, link: AdminLink, cmd: Command) -> None:
        try:
            state = await link.kill_switch(cmd.action is Action.ENGAGE)
        except LinkError as exc:
            cmd.failed, cmd.reply = True, str(exc)
        else:
            cmd.reply = f"runtime answered {state}"
        self.refresh_panels()

    async def _send_tradingshard(self, cmd: Command) -> None:
        link = self.tradingshard
        assert link is not None
        try:
            view = await asyncio.to_thread(link.set_kill_switch, cmd.action is Action.ENGAGE)
        except (LinkError, ValueError) as exc:
            cmd.failed, cmd.reply = True, str(exc)[:160]
        else:
            self.tradingshard_view = view
            cmd.generation = view.generation
            cmd.reply = f"spec.killSwitch={str(view.kill_switch).lower()} (gen {view.generation})"
        self.refresh_panels()

    def _check_acks(self) -> None:
        now = self.clock()
        for cmd in self.commands:
            if cmd.failed or cmd.acknowledged_at is not None or not cmd.reply:
                continue
            if cmd.index < 0:  # the TradingShard
                done, words = tradingshard_ack(cmd, self.tradingshard_view)
            else:
                done, words = admin_ack(cmd, self.readings[cmd.index].snapshot)
            cmd.outcome = words
            if done:
                cmd.acknowledged_at = now

    # -- rendering (10 Hz) ---------------------------------------------------------------------
    def refresh_panels(self) -> None:
        self.ticks += 1
        now = self.clock()
        self._check_acks()
        title = (
            f"shijim dashboard   {len(self.readings)} runtime(s)"
            + (f" + {self.tradingshard.label}" if self.tradingshard else "")
            + f"   {utc_ns_to_taipei(self.wall_ns()):%Y-%m-%d %H:%M:%S} Taipei"
        )
        if title != self._title_shown:
            self._title_shown = title
            self.title_bar.update(title, layout=False)
        shards: list[Row] = []
        books: list[Row] = []
        orders: list[Row] = []
        pnl: list[Row] = []
        strategy = Text()
        rejects = Text()
        names = row_tags(self.readings)
        for r, (label, tag) in zip(self.readings, names, strict=True):
            status = link_status(r, now)
            grey = status.link in (Link.STALE, Link.DOWN)
            shards.append(shard_row(r, label, status, now, grey))
            snap = r.snapshot
            if snap is None:
                continue
            for code in sorted(snap.books):
                books.append(book_row(tag, snap.books[code], r, snap.positions.get(code, 0), grey))
            for o in snap.working_orders:
                orders.append(order_row(tag, o, grey))
            pnl.extend(pnl_rows(tag, snap, grey))
            strategy_text(strategy, label, snap, grey)
            rejects_text(rejects, label, snap, grey)
        if self.tradingshard is not None:
            self.ts_panel.set_rows(self._tradingshard_rows())
        self.shards_panel.set_rows(shards)
        self.books_panel.set_rows(books)
        self.orders_panel.set_rows(orders)
        self.pnl_panel.set_rows(pnl)
        self.strategy_panel.show(strategy)
        self.rejects_panel.show(rejects or Text("none", style=GREY))
        self.commands_panel.show(self._commands_text(now))

    def _tradingshard_rows(self) -> list[Row]:
        panel = self.ts_panel
        v = self.tradingshard_view
        link = self.tradingshard
        assert link is not None
        if v is None:
            panel.border_title = f"{link.label}: {self.tradingshard_error}"
            return []
        engaged = v.conditions.get("KillSwitchEngaged", "?")
        problem = f"   API: {self.tradingshard_error}" if self.tradingshard_error else ""
        panel.border_title = (
            f"{link.label}: phase {v.phase or '?'}, spec.killSwitch "
            f"{str(v.kill_switch).lower()}, KillSwitchEngaged {engaged}{problem}"
        )
        grey = GREY if self.tradingshard_error else ""
        rows: list[Row] = []
        for i in range(v.shards):
            e = v.entry(i)
            if e is None:
                rows.append(((str(i), grey), ("not reported", "bold red"), *(("", ""),) * 4))
                continue
            behind = e.observed_generation is None or e.observed_generation < v.generation
            rows.append(
                (
                    (str(i), grey),
                    (e.pod, grey),
                    (e.trading_state, grey or STATE_STYLE.get(e.trading_state, "")),
                    ("yes" if e.acknowledged else "no", grey),
                    (f"{e.observed_generation}/{v.generation}", "yellow" if behind else grey),
                    ("-" if e.heartbeat_age_s is None else fmt_age(e.heartbeat_age_s), grey),
                )
            )
        return rows

    def _commands_text(self, now: float) -> Text:
        if not self.commands:
            return Text("K engages, R resumes (each asks first); nothing sent yet", style=GREY)
        out = Text()
        for i, cmd in enumerate(self.commands):
            if i:
                out.append("\n")
            if cmd.failed:
                style = "bold red"
            elif cmd.acknowledged_at is not None:
                style = "bold green" if cmd.action is Action.RESUME else "bold red reverse"
            else:
                style = "yellow"
            out.append(command_line(cmd, now), style=style)
        return out


# -- rows (pure) ----------------------------------------------------------------------------------
def row_tags(readings: Sequence[Reading]) -> list[tuple[str, str]]:
    """Per runtime: (label, tag). The label names it in the shards panel and the kill-switch
    lines (``local s0/1``); the tag starts its book, order and PnL rows (``s0/1``). Two runtimes
    that name themselves alike (two local single-shard runs) are told apart by address."""
    out = []
    for r in readings:
        pub = r.publication
        tag = r.label if pub is None else f"s{pub.shard.get('id')}/{pub.shard.get('total')}"
        out.append((r.label, tag))
    labels = [label for label, _ in out]
    return [
        (f"{label} @{r.address}", f":{r.address.rsplit(':', 1)[-1]}")
        if labels.count(label) > 1
        else (label, tag)
        for (label, tag), r in zip(out, readings, strict=True)
    ]


def shard_row(r: Reading, label: str, status: Status, now: float, grey: bool) -> Row:
    g = GREY if grey else ""
    link: Cell = (status.text, LINK_STYLE[status.link])
    pub = r.publication
    snap = r.snapshot
    if pub is None or snap is None:
        detail = "" if r.up else r.error
        return ((label, g), link, ("-", g), (detail, GREY), *(("", ""),) * 8)
    demands = ", ".join(f"{k}" for k in sorted(snap.demands)) or "none"
    live = pub.live
    if not live.get("feed_connected", True):
        feed: Cell = ("down", "bold red")
    elif live.get("feed_degraded"):
        feed = ("degraded", "bold yellow")
    elif live.get("feed_finished"):
        feed = ("finished", g or "yellow")
    else:
        feed = (str(pub.shard.get("feed", "?")), g)
    age = event_age(r, now)
    quiet = age is None or age > FEED_QUIET_S
    c = snap.counters
    rejects = sum(snap.rejects.values())
    return (
        (label, g),
        link,
        (snap.state.name, g or STATE_STYLE.get(snap.state.name, "")),
        (demands, g or ("bold red" if snap.demands else "")),
        feed,
        ("-" if age is None else fmt_age(age), GREY if quiet or grey else ""),
        (str(snap.ring.lag), g),
        (str(snap.ring.lost), g or ("bold red" if snap.ring.lost else "")),
        (str(c.get("decisions", 0)), g),
        (str(c.get("orders", 0)), g),
        (str(c.get("fills", 0)), g),
        (str(rejects), g or ("bold red" if rejects else "")),
    )


def book_row(tag: str, b: BookTop, r: Reading, pos: int, grey: bool) -> Row:
    g = GREY if grey else ""
    history = r.history.get(b.code)
    ofi, mlofi = flows(history)
    return (
        (tag, g),
        (b.code, g or "bold"),
        (str(b.bid_qty), g),
        (fmt_price(b.bid), g or "green"),
        (fmt_price(b.ask), g or "red"),
        (str(b.ask_qty), g),
        (fmt_price(b.spread), g),
        (fmt_price(round(b.microprice, 2)), g),
        (fmt_num(ofi), g or flow_style(ofi)),
        (fmt_num(mlofi, 1), g or flow_style(mlofi)),
        (spark((m for m, _, _ in history or ()), 10), g or "cyan"),
        (f"{pos:+d}" if pos else "0", g or ("bold" if pos else GREY)),
    )


def flow_style(x: float) -> str:
    return "green" if x > 0 else "red" if x < 0 else ""


def order_row(tag: str, o: WorkingOrder, grey: bool) -> Row:
    g = GREY if grey else ""
    return (
        (tag, g),
        (o.order_id, g),
        (o.code, g),
        (o.side.name, g or ("green" if o.side is Side.BUY else "red")),
        (str(o.qty), g),
        (str(o.remaining), g),
        (fmt_price(o.price), g),
        (o.status.value, g),
        (o.tag, g),
    )


def pnl_rows(tag: str, snap: SystemSnapshot, grey: bool) -> list[Row]:
    g = GREY if grey else ""
    rows: list[Row] = []
    for h in snap.holdings:
        gross = h.realised + h.unrealised
        rows.append(
            (
                (tag, g),
                (h.code, g),
                (f"{h.net:+d}" if h.net else "0", g or ("bold" if h.net else "")),
                (fmt_price(h.avg_price) if h.net else "-", g),
                (fmt_twd(gross), g or pnl_style(gross)),
                (fmt_twd(h.fees), g),
                (fmt_twd(gross - h.fees), g or pnl_style(gross - h.fees)),
            )
        )
    a = snap.account
    rows.append(
        (
            (tag, g or "bold"),
            ("total", g or "bold"),
            ("", ""),
            ("", ""),
            (fmt_twd(a.gross), g or pnl_style(a.gross)),
            (fmt_twd(a.fees), g),
            (fmt_twd(a.net), g or ("bold " + pnl_style(a.net)).strip()),
        )
    )
    return rows


def pnl_style(x: float) -> str:
    return "green" if x > 0 else "red" if x < 0 else ""


def strategy_text(out: Text, label: str, snap: SystemSnapshot, grey: bool) -> None:
    g = GREY if grey else ""
    if out:
        out.append("\n")
    s = snap.strategy
    c = snap.counters
    out.append(f"{label}: ", style=g or "bold")
    out.append(f"{s.name} ({s.decision}), {c.get('decisions', 0)} decisions", style=g)
    if c.get("strategy_errors"):
        out.append(f", {c['strategy_errors']} errors", style=g or "bold red")
    if s.fields:
        for k, v in s.fields.items():
            out.append(f"\n  {k} = {v}", style=g)
    else:
        out.append("\n  (no describe())", style=GREY)


def rejects_text(out: Text, label: str, snap: SystemSnapshot, grey: bool) -> None:
    if not snap.rejects:
        return
    red = GREY if grey else "bold red"
    if out:
        out.append("\n")
    counts = ", ".join(f"{k} {n}" for k, n in sorted(snap.rejects.items(), key=lambda x: -x[1]))
    out.append(f"{label}: {counts}", style=red)
    for rej in reversed(snap.recent_rejects[-6:]):
        at = utc_ns_to_taipei(rej.at_ns)
        out.append(
            f"\n  {at:%H:%M:%S}.{at.microsecond // 1000:03d} {rej.reason} {rej.subject}: "
            f"{rej.detail}",
            style=GREY if grey else "red",
        )


# -- command line ---------------------------------------------------------------------------------
def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m shijim.dashboard.app",
        description="Shijim dashboard: watch running shards; K kill switch, R resume.",
    )
    p.add_argument(
        "--admin",
        action="append",
        default=[],
        metavar="URL",
        help="a runtime's admin listener, http://HOST:PORT (repeat for several shards); "
        f"the token comes from {ENV_TOKEN}",
    )
    p.add_argument("--tradingshard", metavar="NAME", help="a TradingShard on Kubernetes")
    p.add_argument(
        "--namespace",
        metavar="NS",
        help="the TradingShard's namespace (default: $POD_NAMESPACE, else default)",
    )
    p.add_argument(
        "--poll-ms", type=int, default=100, metavar="MS", help="refresh period (default 100)"
    )
    return p


def build_app(argv: Sequence[str] | None = None, env: dict[str, str] | None = None) -> DashboardApp:
    """The app for a command line; raises ValueError naming the flag on bad input."""
    env = dict(os.environ) if env is None else env
    args = _parser().parse_args(argv)
    if not args.admin and not args.tradingshard:
        raise ValueError("nothing to watch: give --admin URL (repeatable) or --tradingshard NAME")
    if not 20 <= args.poll_ms <= 10_000:
        raise ValueError(f"--poll-ms: expected 20..10000, got {args.poll_ms}")
    admins = []
    if args.admin:
        token = env.get(ENV_TOKEN, "")
        if not token:
            raise ValueError(f"--admin: {ENV_TOKEN} is not set (the admin listener's token)")
        for i, raw in enumerate(args.admin):
            admins.append(AdminLink(parse_admin_url(raw, f"--admin[{i}]"), token))
        labels = [a.address.label for a in admins]
        if len(set(labels)) != len(labels):
            raise ValueError(f"--admin: the same address twice ({', '.join(labels)})")
    tradingshard = None
    if args.tradingshard:
        from shijim.governance.k8s_api import ApiClient, endpoint_from_environment

        namespace = args.namespace or env.get("POD_NAMESPACE") or "default"
        endpoint = endpoint_from_environment(env)  # ApiConfigError (a ValueError) names it
        tradingshard = TradingShardLink(
            ApiClient(endpoint, user_agent="shijim-dashboard"), args.tradingshard, namespace
        )
    return DashboardApp(admins, tradingshard, poll_s=args.poll_ms / 1000)


def main(argv: Sequence[str] | None = None) -> int:
    try:
        app = build_app(argv)
    except SystemExit as exc:  # --help, or a flag argparse refused (it printed why)
        return 0 if not exc.code else 2
    except ValueError as exc:
        print(f"shijim dashboard: {exc}", file=sys.stderr)
        return 2
    app.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
