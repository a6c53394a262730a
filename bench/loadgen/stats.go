package loadgen

import (
	"bufio"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
)

// Stats are one sipp process's cumulative counters, read from its
// -trace_stat CSV.
type Stats struct {
	Created         int            // calls placed (TotalCallCreated)
	Successful      int            // SuccessfulCall(C)
	Failed          int            // FailedCall(C)
	PeakConcurrent  int            // highest CurrentCall of any sample
	Retransmissions int            // Retransmissions(C)
	FailReasons     map[string]int // non-zero Failed…(C) columns, e.g. "TimeoutOnRecv"
}

// Reasons renders FailReasons as "TimeoutOnRecv=3 UnexpectedMessage=1",
// sorted by name.
func (s Stats) Reasons() string {
	names := make([]string, 0, len(s.FailReasons))
	for n := range s.FailReasons {
		names = append(names, n)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("%s=%d", n, s.FailReasons[n])
	}
	return strings.Join(parts, " ")
}

// ParseStats reads sipp's statistics CSV (semicolon separated, one header
// row, one row per -fd period and a final one); the last row holds the
// cumulative counters.
func ParseStats(r io.Reader) (Stats, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	var header []string
	var last map[string]string
	st := Stats{FailReasons: map[string]int{}}
	rows := 0
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		fields := strings.Split(strings.TrimSuffix(line, ";"), ";")
		if header == nil {
			header = fields
			continue
		}
		if len(fields) != len(header) {
			return Stats{}, fmt.Errorf("loadgen: stats row %d has %d fields, header %d", rows+1, len(fields), len(header))
		}
		row := make(map[string]string, len(header))
		for i, h := range header {
			row[h] = fields[i]
		}
		if cur, err := strconv.Atoi(row["CurrentCall"]); err == nil && cur > st.PeakConcurrent {
			st.PeakConcurrent = cur
		}
		last = row
		rows++
	}
	if err := sc.Err(); err != nil {
		return Stats{}, fmt.Errorf("loadgen: read stats: %w", err)
	}
	if last == nil {
		return Stats{}, fmt.Errorf("loadgen: stats file has no data rows")
	}
	get := func(col string) (int, error) {
		v, ok := last[col]
		if !ok {
			return 0, fmt.Errorf("loadgen: stats: no column %q", col)
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			return 0, fmt.Errorf("loadgen: stats: column %q: %w", col, err)
		}
		return n, nil
	}
	var err error
	if st.Created, err = get("TotalCallCreated"); err != nil {
		return Stats{}, err
	}
	if st.Successful, err = get("SuccessfulCall(C)"); err != nil {
		return Stats{}, err
	}
	if st.Failed, err = get("FailedCall(C)"); err != nil {
		return Stats{}, err
	}
	if st.Retransmissions, err = get("Retransmissions(C)"); err != nil {
		return Stats{}, err
	}
	for col, v := range last {
		if !strings.HasPrefix(col, "Failed") || !strings.HasSuffix(col, "(C)") || col == "FailedCall(C)" {
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			return Stats{}, fmt.Errorf("loadgen: stats: column %q: %w", col, err)
		}
		if n > 0 {
			st.FailReasons[strings.TrimSuffix(strings.TrimPrefix(col, "Failed"), "(C)")] = n
		}
	}
	return st, nil
}
