// Package measure takes the benchmark's figures: CPU time and peak memory of
// a process from /proc, and DTMF→action latency from an ARI observer that
// subscribes to every event source of Asterisk.
package measure

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTick is USER_HZ, the unit of /proc/PID/stat times; 100 on every
// Linux architecture Go supports for this tool.
const clockTick = 100

// CPU is a process's CPU time: its own user and system time plus that of its
// reaped children (utime+stime+cutime+cstime of /proc/PID/stat).
func CPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("measure: cpu of %d: %w", pid, err)
	}
	return parseStatCPU(b)
}

// parseStatCPU reads fields 14-17 of a /proc/PID/stat line. The command
// name (field 2) may hold spaces and parentheses, so fields are counted from
// its last ')'.
func parseStatCPU(b []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("measure: stat: no command name in %q", b)
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); utime is field 14, so f[11]..f[14].
	if len(f) < 15 {
		return 0, fmt.Errorf("measure: stat: %d fields after the command name, want at least 15", len(f))
	}
	var ticks int64
	for _, s := range f[11:15] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("measure: stat: time field %q: %w", s, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTick, nil
}

// PeakRSS is a process's peak resident set size in bytes (VmHWM of
// /proc/PID/status).
func PeakRSS(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("measure: status of %d: %w", pid, err)
	}
	defer f.Close()
	return parseHWM(bufio.NewScanner(f))
}

func parseHWM(sc *bufio.Scanner) (int64, error) {
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("measure: status: VmHWM %q: want \"N kB\"", rest)
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("measure: status: VmHWM: %w", err)
		}
		return kb * 1024, nil
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("measure: status: %w", err)
	}
	return 0, fmt.Errorf("measure: status: no VmHWM line")
}
