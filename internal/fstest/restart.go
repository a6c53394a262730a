package fstest

import (
	"context"
	"fmt"
)

// Restart ends FreeSWITCH with kill -KILL (a crash: no BYE, no CANCEL, every
// channel gone) and starts it again with the same configuration, ports,
// password and per-run folders, keeping the switch lock. It returns when the
// new process's event socket accepts connections.
func (f *FreeSWITCH) Restart(ctx context.Context) error {
	if f.lock == nil {
		return fmt.Errorf("fstest: restart: stopped")
	}
	f.kill()
	return f.launch(ctx)
}
