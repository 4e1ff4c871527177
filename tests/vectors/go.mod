module gopherbot-robot-operator/tests/vectors

go 1.26

require github.com/emersion/go-textwrapper v0.0.0-20200911093747-65d896831594
