package flowmap

import (
	"fmt"

	"github.com/callflow/callflow/flowvm"
)

// layout places one flow's notations in rows by their distance from the
// start (breadth first along wired exits; notations not reached from the
// start go below), each row left to right in file order. An exit to a
// later row is a curve down; an exit back up (a loop) or along its row
// runs around the right side of the diagram.
func layout(flow string, ns []flowvm.Notation, idx []int) Diagram {
	d := Diagram{Flow: flow}
	depth := map[int]int{}
	var queue []int
	for _, i := range idx {
		if ns[i].Start {
			depth[i] = 0
			queue = append(queue, i)
		}
	}
	for len(queue) > 0 {
		i := queue[0]
		queue = queue[1:]
		for _, e := range ns[i].Exits {
			if e.Target < 0 || ns[e.Target].Flow != flow {
				continue
			}
			if _, ok := depth[e.Target]; !ok {
				depth[e.Target] = depth[i] + 1
				queue = append(queue, e.Target)
			}
		}
	}
	maxDepth := 0
	for _, dd := range depth {
		maxDepth = max(maxDepth, dd)
	}
	for _, i := range idx {
		if _, ok := depth[i]; !ok {
			maxDepth++
			depth[i] = maxDepth
		}
	}
	rows := make([][]int, maxDepth+1)
	for _, i := range idx {
		rows[depth[i]] = append(rows[depth[i]], i)
	}
	widest := 0
	for _, r := range rows {
		widest = max(widest, len(r))
	}
	rowWidth := func(n int) int { return n*nodeW + (n-1)*colGap }
	d.Width = 2*margin + rowWidth(widest) + 60 // room for loops on the right
	pos := map[int]*Node{}
	for r, row := range rows {
		x0 := margin + (rowWidth(widest)-rowWidth(len(row)))/2
		for c, i := range row {
			n := ns[i]
			d.Nodes = append(d.Nodes, Node{Key: flow + "/" + n.ID, ID: n.ID, Type: n.Type, Start: n.Start, Runs: n.Runs,
				X: x0 + c*(nodeW+colGap), Y: margin + r*(nodeH+rowGap), W: nodeW, H: nodeH})
		}
	}
	for k := range d.Nodes {
		for _, i := range idx {
			if flow+"/"+ns[i].ID == d.Nodes[k].Key {
				pos[i] = &d.Nodes[k]
			}
		}
	}
	d.Height = 2*margin + len(rows)*(nodeH+rowGap) - rowGap
	right := d.Width - margin/2
	// Exits of one notation to the same target share one arrow.
	for _, i := range idx {
		from := pos[i]
		byTarget := map[int]int{} // target → index in d.Edges
		for _, e := range ns[i].Exits {
			if e.Target < 0 || ns[e.Target].Flow != flow {
				continue
			}
			key := from.Key + "/" + e.Name
			if k, ok := byTarget[e.Target]; ok {
				d.Edges[k].Exits = append(d.Edges[k].Exits, e.Name)
				d.Edges[k].Keys = append(d.Edges[k].Keys, key)
				continue
			}
			to := pos[e.Target]
			ed := Edge{Key: key, From: from.Key, To: to.Key, Exit: e.Name, Exits: []string{e.Name}, Keys: []string{key}}
			switch {
			case to.Y > from.Y:
				x1, y1 := from.X+from.W/2, from.Y+from.H
				x2, y2 := to.X+to.W/2, to.Y
				my := (y1 + y2) / 2
				ed.Path = fmt.Sprintf("M%d %d C%d %d %d %d %d %d", x1, y1, x1, my, x2, my, x2, y2)
				ed.LX, ed.LY = (x1+3*x2)/4, my+4
			case to.Y == from.Y && to.X != from.X:
				y := from.Y + from.H/2
				x1, x2 := from.X+from.W, to.X
				if to.X < from.X {
					x1, x2 = from.X, to.X+to.W
				}
				ed.Path = fmt.Sprintf("M%d %d L%d %d", x1, y, x2, y)
				ed.LX, ed.LY = (x1+x2)/2, y-6
			default: // up to an earlier row, or to itself
				x1, y1 := from.X+from.W, from.Y+from.H/2
				x2, y2 := to.X+to.W, to.Y+to.H/2
				ed.Path = fmt.Sprintf("M%d %d C%d %d %d %d %d %d", x1, y1, right, y1, right, y2, x2, y2)
				ed.LX, ed.LY = right-30, (y1+y2)/2
			}
			byTarget[e.Target] = len(d.Edges)
			d.Edges = append(d.Edges, ed)
		}
	}
	return d
}
