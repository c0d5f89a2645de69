package config

import (
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const groupsKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"

func TestGroups(t *testing.T) {
	data := "users:\n" +
		"  - name: carol\n    roles: [approver]\n    groups: [storage, oncall-db]\n    keys: [\"" + groupsKey + " c\"]\n"
	c, err := Parse("k.yaml", []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	if !c.InGroup("carol", "storage") || !c.InGroup("carol", "oncall-db") || c.InGroup("carol", "security") || c.InGroup("nobody", "storage") {
		t.Fatalf("InGroup wrong for %v", c.Users[0].Groups)
	}
	if !slices.Equal(c.GroupApprovers("storage"), []string{"carol"}) || !c.HasGroup("oncall-db") || c.HasGroup("security") {
		t.Fatalf("GroupApprovers(storage) = %v", c.GroupApprovers("storage"))
	}
}

func TestGroupsErrors(t *testing.T) {
	data := "users:\n" +
		"  - name: carol\n    roles: [approver]\n    groups: [Storage, db, db]\n    keys: [\"" + groupsKey + " c\"]\n"
	_, err := Parse("k.yaml", []byte(data))
	want := []string{
		`k.yaml:4:14: user "carol": groups[0]: group "Storage": want lower case letters, digits, '-' and '_'`,
		`k.yaml:4:27: user "carol": groups[2]: group "db" listed twice`,
	}
	if err == nil {
		t.Fatal("Parse(bad groups) = nil error")
	}
	if diff := cmp.Diff(want, strings.Split(err.Error(), "\n")); diff != "" {
		t.Errorf("error mismatch (-want +got):\n%s", diff)
	}
	_, err = Parse("k.yaml", []byte("users:\n  - name: carol\n    grups: [a]\n"))
	if err == nil || !strings.Contains(err.Error(), `did you mean "groups"`) {
		t.Errorf("misspelt groups: %v; want a suggestion", err)
	}
}
