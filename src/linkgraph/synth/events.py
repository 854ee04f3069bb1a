"""Evidence events from the catalogue's channels: the traces of people's lives.

Each channel's feed is drawn in one vectorised pass: per-person Poisson counts
from the person's activity rate, ``np.repeat`` to one row per event, uniform
dates inside the days the person was alive. Dead persons whose relatives keep
using their cards go on producing weak events; deaths are reported by the
negative channels, some late, some after the window (and so not at all). The channel
named in ``[city] certification_channel`` also carries each person's last in-person
certification before the window, on a day spread through the year before it.
Persons who leave the city for good leave no trace after they left, and are reported by
the ``[events.left_reports]`` channels; a sentence is reported when it begins and a
release when it ends (``release_channel``); persons living in another city leave no
trace here but are certified through the ``[events.elsewhere_reports]`` channels.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from linkgraph.catalogue import Catalogue, Channel, Identifier, Polarity, Strength
from linkgraph.synth.config import Events, GeneratorConfig
from linkgraph.synth.persons import days, window_days
from linkgraph.tables import EVENT


def _identifiers(
    channel: Channel, persons: pa.Table, who: np.ndarray, legacy: np.ndarray
) -> dict[str, pa.Array]:
    """The identifier columns a channel's feed carries, the others null."""
    n = len(who)
    take = pa.array(who)
    null = pa.nulls(n, pa.string())
    columns = {
        "id_number": null,
        "sscard_no": null,
        "phone": null,
        "name": null,
        "birth_date": null,
    }
    if channel.identifier is Identifier.ID_NUMBER:
        ids = persons["id_number"].take(take).combine_chunks()
        short = pc.binary_join_element_wise(
            pc.utf8_slice_codeunits(ids, 0, 6), pc.utf8_slice_codeunits(ids, 8, 17), ""
        )
        columns["id_number"] = pc.if_else(pa.array(legacy), short, ids)
    elif channel.identifier is Identifier.SSCARD_NO:
        columns["sscard_no"] = persons["sscard_no"].take(take).combine_chunks()
    elif channel.identifier is Identifier.PHONE:
        columns["phone"] = persons["phone"].take(take).combine_chunks()
    else:
        columns["name"] = persons["name"].take(take).combine_chunks()
        columns["birth_date"] = pc.strftime(persons["birth_date"].take(take), format="%Y-%m-%d")
    return columns


def _elsewhere_channels(rng: np.random.Generator, ev: Events, persons: pa.Table) -> np.ndarray:
    """Per person, the channel that certifies them while living in another city ('' for
    those who live here, leave no trace at all, or fall in none of the shares)."""
    codes = list(ev.elsewhere_reports)
    bounds = np.cumsum([ev.elsewhere_reports[c].share for c in codes])
    pick = np.searchsorted(bounds, rng.random(persons.num_rows), side="right")
    reached = (
        persons["lives_elsewhere"].to_numpy(zero_copy_only=False)
        & ~persons["no_trace"].to_numpy(zero_copy_only=False)
        & (pick < len(codes))
    )
    return np.where(reached, np.array([*codes, ""])[np.minimum(pick, len(codes))], "")


def generate_events(
    rng: np.random.Generator,
    cfg: GeneratorConfig,
    catalogue: Catalogue,
    persons: pa.Table,
    months: int,
) -> Iterator[tuple[Channel, pa.Table, pa.Table]]:
    """Yield each channel's feed with its truth (event_id, person_id, by_proxy)."""
    ev = cfg.events
    n = persons.num_rows
    start = days(cfg.start_date)
    end = start + window_days(cfg.start_date, months)
    death = persons["death_date"].cast(pa.int32()).to_numpy(zero_copy_only=False)
    death = np.nan_to_num(death.astype(np.float64), nan=end).astype(np.int64)
    left = persons["left_on"].cast(pa.int32()).to_numpy(zero_copy_only=False)
    left = np.nan_to_num(left.astype(np.float64), nan=end).astype(np.int64)
    alive_until = np.minimum(death, end)
    alive_years = (alive_until - start) / 365.25
    proxy_years = np.where(
        persons["proxy_card_use"].to_numpy(zero_copy_only=False), (end - alive_until) / 365.25, 0.0
    )
    has_phone = persons["phone"].is_valid().to_numpy(zero_copy_only=False)
    rate = {
        Strength.STRONG: persons["strong_rate"].to_numpy(),
        Strength.WEAK: persons["weak_rate"].to_numpy(),
    }
    total_weight = {
        s: sum(
            ev.channel_weights.get(c.code, 0.0)
            for c in catalogue.channels
            if c.strength is s and c.polarity is Polarity.POSITIVE
        )
        for s in Strength
    }
    person_ids = persons["person_id"].combine_chunks()
    next_id = 1
    sentence_from, released = (
        np.nan_to_num(
            persons[k].cast(pa.int32()).to_numpy(zero_copy_only=False).astype(np.float64),
            nan=end,
        ).astype(np.int64)
        for k in ("sentence_from", "released_on")
    )
    elsewhere = persons["lives_elsewhere"].to_numpy(zero_copy_only=False)
    elsewhere_channel: np.ndarray | None = None

    for channel in catalogue.channels:
        reported_delay: np.ndarray
        if channel.polarity is Polarity.POSITIVE:
            share = ev.channel_weights.get(channel.code, 0.0) / total_weight[channel.strength]
            own = rng.poisson(rate[channel.strength] * share * alive_years)
            # Relatives keep tapping a dead person's card or using the phone: weak channels only.
            proxy = (
                rng.poisson(rate[channel.strength] * share * proxy_years)
                if channel.strength is Strength.WEAK
                else np.zeros(n, np.int64)
            )
            if channel.identifier is Identifier.PHONE:
                own[~has_phone], proxy[~has_phone] = 0, 0
            who = np.concatenate([np.repeat(np.arange(n), own), np.repeat(np.arange(n), proxy)])
            by_proxy = np.concatenate([np.zeros(own.sum(), bool), np.ones(proxy.sum(), bool)])
            lo = np.where(by_proxy, alive_until[who], start)
            hi = np.where(by_proxy, end, alive_until[who])
            occurred = lo + (rng.random(len(who)) * (hi - lo)).astype(np.int64)
            reported_delay = rng.integers(0, 3, len(who))
            # no trace of one's own in the city while living in another, once left for good, or
            # in prison (drawn as for everyone, then left out: others' events stay the same)
            jailed = (sentence_from[who] <= occurred) & (occurred < released[who])
            here = by_proxy | (~elsewhere[who] & (occurred < left[who]) & ~jailed)
            who, occurred, by_proxy = who[here], occurred[here], by_proxy[here]
            reported_delay = reported_delay[here]
        elif channel.code in ev.death_reports or channel.code in ev.left_reports:
            # a death or a departure, reported by a share of them some days after the day
            if channel.code in ev.death_reports:
                report, day = ev.death_reports[channel.code], death
            else:
                report, day = ev.left_reports[channel.code], left
            who = np.flatnonzero((day < end) & (rng.random(n) < report.share))
            occurred = day[who]
            reported_delay = rng.integers(report.delay_days[0], report.delay_days[1] + 1, len(who))
            by_proxy = np.zeros(len(who), bool)
        else:  # a living person reported ineligible: a sentence, from the day it began
            who = np.flatnonzero(sentence_from < end)
            occurred = sentence_from[who]
            reported_delay = rng.integers(0, 30, len(who))
            by_proxy = np.zeros(len(who), bool)

        if channel.code == ev.release_channel:
            freed = np.flatnonzero(released < end)
            who, occurred = (
                np.concatenate([who, freed]),
                np.concatenate([occurred, released[freed]]),
            )
            by_proxy = np.concatenate([by_proxy, np.zeros(len(freed), bool)])
            reported_delay = np.concatenate([reported_delay, rng.integers(0, 8, len(freed))])
        if channel.code in ev.elsewhere_reports:
            if elsewhere_channel is None:  # each through one channel (or none), by the shares
                elsewhere_channel = _elsewhere_channels(rng, ev, persons)
            # persons living in another city, certified through this channel
            mine = np.flatnonzero(elsewhere_channel == channel.code)
            # a regular certification, not a chance trace: per_year a year, evenly
            expected = ev.elsewhere_reports[channel.code].per_year * alive_years[mine]
            count = np.floor(expected).astype(np.int64)
            count += rng.random(len(mine)) < expected - count
            extra = np.repeat(mine, count)
            at = start + (rng.random(len(extra)) * (alive_until[extra] - start)).astype(np.int64)
            who, occurred = np.concatenate([who, extra]), np.concatenate([occurred, at])
            by_proxy = np.concatenate([by_proxy, np.zeros(len(extra), bool)])
            reported_delay = np.concatenate([reported_delay, rng.integers(0, 3, len(extra))])

        if channel.code == cfg.city.certification_channel:
            # everyone's last in-person certification before the window, spread through the year
            who = np.concatenate([who, np.arange(n)])
            by_proxy = np.concatenate([by_proxy, np.zeros(n, bool)])
            before = rng.integers(1, cfg.city.certified_within_days + 1, n)
            # checked before a sentence served at the time, not at the door of an empty home
            last = np.where(
                (sentence_from < start - before) & (start - before < released),
                sentence_from - 1,
                start - before,
            )
            occurred = np.concatenate([occurred, last])
            reported_delay = np.concatenate([reported_delay, np.zeros(n, np.int64)])

        reported = occurred + reported_delay
        seen = reported < end  # a report after the window has not arrived yet
        who, occurred, reported, by_proxy = (
            who[seen],
            occurred[seen],
            reported[seen],
            by_proxy[seen],
        )
        order = np.lexsort((who, occurred))
        who, occurred, reported, by_proxy = (
            who[order],
            occurred[order],
            reported[order],
            by_proxy[order],
        )
        count = len(who)
        event_id = np.arange(next_id, next_id + count, dtype=np.int64)
        next_id += count
        legacy = rng.random(count) < ev.legacy_id_share
        feed = pa.table(
            {
                "event_id": event_id,
                "channel": pa.repeat(pa.scalar(channel.code), count),
                "occurred_on": pa.array(occurred.astype(np.int32)).cast(pa.date32()),
                "reported_on": pa.array(reported.astype(np.int32)).cast(pa.date32()),
                **_identifiers(channel, persons, who, legacy),
            },
            schema=EVENT,
        )
        truth = pa.table(
            {
                "event_id": event_id,
                "person_id": pa.DictionaryArray.from_arrays(
                    pa.array(who.astype(np.int32)), person_ids
                ),
                "by_proxy": pa.array(by_proxy),
            }
        )
        yield channel, feed, truth
