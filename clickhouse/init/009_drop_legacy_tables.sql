-- Tables that no release since 007 reads or writes:
--   iot_window_partition_state (002): the window state before 006, copied into
--     iot_window_state by 006;
--   dead_letter_events (004): dead letters before 007, copied into
--     dead_letters by 007.
-- Both copies ran before this file (migrations apply in order), so nothing is
-- lost. DROP TABLE IF EXISTS is idempotent on every node of either profile.
--
-- Kept on purpose: iot_window_state.users (written by no release since 007).
-- ClickHouse 18.16 has no DROP COLUMN IF EXISTS, and on replicated tables the
-- per-node runner would issue the ALTER on each replica after replication had
-- already dropped it, so the drop cannot be made idempotent there.
DROP TABLE IF EXISTS stream_analytics.iot_window_partition_state;
DROP TABLE IF EXISTS stream_analytics.dead_letter_events;
