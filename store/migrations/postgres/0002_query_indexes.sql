-- Indexes for the reporting queries (store/query.go): callbacks listed
-- newest first per queue, state or number; the event log read by kind.
CREATE INDEX callbacks_queue_id ON callbacks (queue, id);
CREATE INDEX callbacks_state_id ON callbacks (state, id);
CREATE INDEX callbacks_number_id ON callbacks (number_e164, id);
CREATE INDEX events_kind_id ON events (kind, id);
