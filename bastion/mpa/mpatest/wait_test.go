package mpatest

import "testing"

func TestRecv(t *testing.T) {
	ch := make(chan int, 1)
	ch <- 7
	if got := Recv(t, ch, "a seven"); got != 7 {
		t.Errorf("Recv = %d; want 7", got)
	}
	done := make(chan struct{})
	close(done)
	Closed(t, done, "done") // returns at once on a closed channel
}
