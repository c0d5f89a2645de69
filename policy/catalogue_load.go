package policy

import "sync"

// The catalogue's source is catalogue.yaml: people read and edit it, and a
// policy's own wrappers: and inert: lists have its shape. Decoding its 57 KB
// of YAML took most of a process's first Parse (about 7 ms of CPU), which
// keyturn-guard pays on every start. So the decoded form is compiled into
// Go: catalogue_gen.go is generated from catalogue.yaml by the same decoder
// a policy's lists go through (catalogue_gen_test.go), and
// TestCatalogueGenerated fails when the two differ, so an edit of the YAML
// without `go generate ./policy` does not pass `go test ./...`.
//
//go:generate go test . -run ^TestCatalogueGenerated$ -count 1 -args -update-catalogue

// catalogueLists is catalogue.yaml as decoded, before it is indexed.
type catalogueLists struct {
	wrappers       []*wrapper
	inert          []string
	persist        []string
	unresolvedVars []string
	commandVars    []string
}

// plainWrapper is a catalogue entry that only names its commands and how
// they run, with the decoder's defaults otherwise: what catalogue_gen.go
// writes for most entries, subcommands above all.
func plainWrapper(run runMode, commands ...string) *wrapper {
	return &wrapper{commands: commands, run: run, placeholder: "{}"}
}

// builtin indexes the lists: the wrapper set by name and glob, the inert
// name set.
func (l *catalogueLists) builtin() *builtin {
	return &builtin{
		wrappers: (&wrapperSet{byName: map[string]*wrapper{}}).with(l.wrappers),
		vars:     variables{unresolved: l.unresolvedVars, command: l.commandVars},
		inert:    newNameSet(l.inert),
		persist:  l.persist,
	}
}

type builtin struct {
	wrappers *wrapperSet
	vars     variables
	inert    *nameSet
	persist  []string
}

// builtinWrappers is the catalogue every policy starts from, built once per
// process from the compiled lists (catalogue_gen.go). Nothing writes to it:
// a policy clones what it extends.
var builtinWrappers = sync.OnceValues(func() (*builtin, error) {
	return compiledCatalogue().builtin(), nil
})
