// Package lockedbuf is a bytes.Buffer that one side may write while
// another reads it: a session's or a server's goroutines write, a test
// polls what they wrote. The gate's and the console's tests both need one.
package lockedbuf
