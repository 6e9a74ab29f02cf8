"""The baseline: a bare FastAPI hello-world, served exactly like rhythm (Granian, same workers)."""

from fastapi import FastAPI

app = FastAPI()


@app.get("/hello")
async def hello() -> dict[str, str]:
    return {"message": "hello"}
