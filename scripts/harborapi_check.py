"""Drives Berth with harborapi (PyPI), a real Harbor v2.0 client: every
response below is parsed and validated by its models.

Usage: harborapi_check.py HOST:PORT OCI_LAYOUT:TAG
"""

import asyncio
import subprocess
import sys

from harborapi import HarborAsyncClient
from harborapi.models import ProjectReq, RobotCreate, RobotPermission, Access, Tag, UserCreationReq

host, image = sys.argv[1], sys.argv[2]


async def main() -> None:
    admin = HarborAsyncClient(url=f"http://{host}/api/v2.0", username="admin", secret="Harbor12345")
    me = await admin.get_current_user()
    assert me.username == "admin" and me.sysadmin_flag

    await admin.create_user(UserCreationReq(username="hapi", email="hapi@example.com", password="Hapi123456", realname="H"))
    await admin.create_project(ProjectReq(project_name="hapi", metadata={"public": "false"}))
    project = await admin.get_project("hapi")
    assert project.name == "hapi" and project.metadata.public == "false", project
    await admin.add_project_member_user("hapi", "hapi", 2)

    robot = await admin.create_robot(
        RobotCreate(
            name="pusher",
            level="project",
            duration=-1,
            permissions=[
                RobotPermission(
                    kind="project",
                    namespace="hapi",
                    access=[Access(resource="repository", action="pull"), Access(resource="repository", action="push")],
                )
            ],
        )
    )
    assert robot.name == "robot$hapi+pusher" and robot.secret

    subprocess.run(
        ["skopeo", "--insecure-policy", "copy", "-q", f"oci:{image}", f"docker://{host}/hapi/app:v1",
         "--dest-tls-verify=false", "--dest-creds", f"{robot.name}:{robot.secret}"],
        check=True,
    )

    repos = await admin.get_repositories("hapi")
    assert [r.name for r in repos] == ["hapi/app"], repos
    artifacts = await admin.get_artifacts("hapi", "app")
    assert len(artifacts) == 1 and artifacts[0].tags[0].name == "v1", artifacts
    digest = artifacts[0].digest

    await admin.create_artifact_tag("hapi", "app", digest, Tag(name="stable"))
    tags = await admin.get_artifact_tags("hapi", "app", digest)
    assert sorted(t.name for t in tags) == ["stable", "v1"], tags
    await admin.delete_artifact_tag("hapi", "app", digest, "stable")
    tags = await admin.get_artifact_tags("hapi", "app", digest)
    assert [t.name for t in tags] == ["v1"], tags

    await admin.delete_artifact("hapi", "app", digest)
    assert await admin.get_artifacts("hapi", "app") == []
    # As in Harbor, the repository outlives its last artifact, and a project
    # with a repository cannot be deleted until the repository is.
    repo = await admin.get_repository("hapi", "app")
    assert repo.artifact_count == 0, repo
    await admin.delete_repository("hapi", "app")
    await admin.delete_project("hapi")
    assert "hapi" not in [p.name for p in await admin.get_projects()]
    print("harborapi: user, private project, member, robot, robot push, repositories, artifacts, tags, deletes")


asyncio.run(main())
