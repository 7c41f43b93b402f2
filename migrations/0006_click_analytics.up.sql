-- Click analytics, pre-aggregated: where each replica's clicks came from, as running totals
-- per (replica, epoch) like click_counts, kept as the highest total seen. No raw visit rows.

-- Clicks per UTC hour, humans and bots apart.
CREATE TABLE click_hours (
    code          text NOT NULL,
    hour          timestamptz NOT NULL,
    bot           boolean NOT NULL,
    replica_id    text NOT NULL,
    replica_epoch text NOT NULL,
    total         bigint NOT NULL CHECK (total >= 0),
    PRIMARY KEY (code, hour, bot, replica_id, replica_epoch)
);

-- Hours older than SHORTENER_STATS_HOURLY_DAYS, folded into their day (sums of final hours).
CREATE TABLE click_days (
    code          text NOT NULL,
    day           date NOT NULL,
    bot           boolean NOT NULL,
    replica_id    text NOT NULL,
    replica_epoch text NOT NULL,
    total         bigint NOT NULL CHECK (total >= 0),
    PRIMARY KEY (code, day, bot, replica_id, replica_epoch)
);

-- Clicks per referrer host, country, device class, browser and OS family.
CREATE TABLE click_values (
    code          text NOT NULL,
    dimension     text NOT NULL,
    value         text NOT NULL,
    bot           boolean NOT NULL,
    replica_id    text NOT NULL,
    replica_epoch text NOT NULL,
    total         bigint NOT NULL CHECK (total >= 0),
    PRIMARY KEY (code, dimension, value, bot, replica_id, replica_epoch)
);
