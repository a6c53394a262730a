-- The callbacks a call registered (Callbacks.FromCall): a caller whose
-- flow runs again after a restart finds the one it registered before.
CREATE INDEX callbacks_caller_call_id ON callbacks (caller_call_id);
