package flowvm

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Pos is a position in a flow file (1-based line and column).
type Pos struct {
	File      string
	Line, Col int
}

func (p Pos) String() string { return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col) }

// Error is one problem found while loading a flow, at its position.
type Error struct {
	File      string
	Line, Col int
	Msg       string
}

func (e *Error) Error() string { return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Col, e.Msg) }

// ErrorList is every problem found while loading flows, sorted by file,
// line and column. Load returns all of them at once.
type ErrorList []*Error

func (l ErrorList) Error() string {
	lines := make([]string, len(l))
	for i, e := range l {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// errs collects load errors.
type errs struct{ list ErrorList }

func (c *errs) add(p Pos, format string, args ...any) {
	line, col := p.Line, p.Col
	if line < 1 {
		line = 1
	}
	if col < 1 {
		col = 1
	}
	c.list = append(c.list, &Error{File: p.File, Line: line, Col: col, Msg: fmt.Sprintf(format, args...)})
}

// result sorts and de-duplicates the errors; nil when there are none.
func (c *errs) result() error {
	if len(c.list) == 0 {
		return nil
	}
	slices.SortStableFunc(c.list, func(a, b *Error) int {
		return cmp.Or(cmp.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line), cmp.Compare(a.Col, b.Col), cmp.Compare(a.Msg, b.Msg))
	})
	c.list = slices.CompactFunc(c.list, func(a, b *Error) bool { return *a == *b })
	return c.list
}

// ErrStepBudget is matched (errors.Is) by the error of a run that exceeded
// Runtime.MaxSteps consecutive steps without real blocking.
var ErrStepBudget = errors.New("step budget exceeded")

type budgetError struct{ max int }

func (e *budgetError) Error() string {
	return fmt.Sprintf("step budget of %d steps without blocking exceeded", e.max)
}

func (e *budgetError) Is(target error) bool { return target == ErrStepBudget }

// RunError is a run-time fault of a flow at the position of the notation
// that caused it.
type RunError struct {
	Pos Pos
	Err error
}

func (e *RunError) Error() string { return e.Pos.String() + ": " + e.Err.Error() }
func (e *RunError) Unwrap() error { return e.Err }

// PanicError is the Err of a RunError for a notation that panicked.
type PanicError struct{ Value any }

func (e *PanicError) Error() string { return fmt.Sprintf("panic: %v", e.Value) }
