package store
import ("testing";"context";"fmt";"github.com/callflow/callflow/internal/pgtest")
func TestDbgExplain(t *testing.T) {
	_, dsn := pgtest.Require(t)
	ctx := context.Background()
	s, err := OpenPostgres(ctx, dsn)
	if err != nil { t.Fatal(err) }
	defer s.Close()
	for i := range 5000 {
		if _, _, err := s.Register(ctx, newCB("sales", fmt.Sprintf("+4206%08d", i), int64(i)), false); err != nil { t.Fatal(err) }
	}
	s.db.ExecContext(ctx, "ANALYZE")
	for _, q := range []string{
		`EXPLAIN ANALYZE SELECT id FROM callbacks WHERE state IN (`+openStateList()+`) AND ((queue = 'sales' AND number_e164 = '+420600000001') OR (queue = 'sales' AND number_e164 = '+420600000002')) ORDER BY id`,
		`EXPLAIN ANALYZE INSERT INTO callbacks (queue, number_e164, ani, media, priority, joined_at, seq, state, attempts, created_at, updated_at) VALUES ('q','n','a','[]',0,now(),1,'registered',0,now(),now())`,
	} {
		rows, err := s.db.QueryContext(ctx, q)
		if err != nil { t.Fatal(err) }
		for rows.Next() { var l string; rows.Scan(&l); t.Log(l) }
		rows.Close()
	}
}
