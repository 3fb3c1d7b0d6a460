-- Two-character Chinese keywords (most Chinese words) have no trigram, so the trigram index cannot
-- serve them. Index the distinct CJK character bigrams of the Chinese name and summary instead.
create function govshare_cjk_bigrams(t text) returns text[]
language sql immutable strict parallel safe as $$
    select coalesce(array_agg(distinct b), '{}') from (
        select substr(t, i, 2) as b from generate_series(1, length(t) - 1) as i
    ) pairs
    where b ~ '^[\u3400-\u4dbf\u4e00-\u9fff]{2}$'
$$;

create index resources_cjk_bigrams_idx on resources
    using gin (govshare_cjk_bigrams(name_zh || ' ' || summary_zh));
