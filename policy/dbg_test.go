package policy

import (
	"bufio"
	"fmt"
	"os"
	"testing"
)

func TestDbg(t *testing.T) {
	p := shippedPolicy(t)
	f, err := os.Open("/tmp/matcher_dbg/lines")
	if err != nil {
		t.Skip()
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		d := p.Decide(Input{Command: sc.Text()})
		fmt.Printf("%s\n=> %s\n\n", sc.Text(), d.Message())
	}
}
